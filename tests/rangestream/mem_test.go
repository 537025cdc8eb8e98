// Package rangestream_test measures what KV.RangeStream is for (issue 13): the memory a member
// grows by while it serves a range of many small keys, streamed in chunks and as one plain
// Range. It holds only a benchmark, run by `make bench-rangestream` (1M keys; never part of
// `make test`); bench/PERFORMANCE.md "RangeStream memory" records its figures.
package rangestream_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

var memKeys = flag.Int("rangestream.keys", 1_000_000, "keys BenchmarkRangeStreamMemory loads and reads")

const (
	// loaders is the number of concurrent clients loading the keys.
	loaders = 16
	// txnOps is the puts per loading txn (keeld's default --max-txn-ops).
	txnOps = 128
	// valueBytes is the size of every value.
	valueBytes = 16
)

// BenchmarkRangeStreamMemory loads -rangestream.keys small keys into a one-member keeld run
// as a process, then reads them all, first with RangeStream (the client drops each chunk)
// and then with one plain Range, and reports for each two growths over the member's memory
// just before the read: of its anonymous RSS (RssAnon: the Go heap and stacks, sampled every
// millisecond during the read; the figure that shows what the read materialises), and of its
// peak total RSS (the kernel's VmHWM, reset through /proc/<pid>/clear_refs; it also counts
// the pages of the mmapped bbolt file that the read touches, the same for both reads). The
// streamed read goes first: memory the Go runtime keeps after it can only make the Range's
// growth look smaller. It measures once whatever b.N is: run it with -benchtime=1x. Linux
// only.
func BenchmarkRangeStreamMemory(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the member's memory from /proc")
	}
	c := proccluster.Start(b, proccluster.Config{Binary: proccluster.BuildKeeld(b), Members: 1})
	cli := c.Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	load(ctx, b, cli, *memKeys)
	b.Logf("loaded %d keys in %v", *memKeys, time.Since(start).Round(time.Millisecond))
	pid := c.Pid(0)

	reads := []struct {
		name string
		read func() (int, error)
	}{
		{"stream", func() (int, error) {
			ch, err := cli.GetStream(ctx, "m/", clientv3.WithPrefix())
			if err != nil {
				return 0, err
			}
			n := 0
			for r := range ch {
				if err := r.Err(); err != nil {
					return n, err
				}
				n += len(r.Kvs)
			}
			return n, nil
		}},
		{"range", func() (int, error) {
			resp, err := cli.Get(ctx, "m/", clientv3.WithPrefix())
			if err != nil {
				return 0, err
			}
			return len(resp.Kvs), nil
		}},
	}
	const mib = 1 << 20
	for _, r := range reads {
		before := procStatus(b, pid, "VmRSS")
		anonBefore := procStatus(b, pid, "RssAnon")
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			b.Fatalf("resetting the peak RSS: %v", err)
		}
		stop, sampler := sampleAnon(pid)
		start := time.Now()
		n, err := r.read()
		took := time.Since(start)
		peakAnon := max(stop(), anonBefore)
		if err != nil {
			b.Fatalf("%s: %v", r.name, err)
		}
		if n != *memKeys {
			b.Fatalf("%s read %d keys, want %d", r.name, n, *memKeys)
		}
		peak := procStatus(b, pid, "VmHWM")
		if sampler.err != nil {
			b.Fatal(sampler.err)
		}
		b.Logf("%s of %d keys: %v; member RssAnon %.1f MiB before, sampled peak %.1f MiB (growth %.1f MiB); RSS %.1f MiB before, peak %.1f MiB (growth %.1f MiB)",
			r.name, n, took.Round(time.Millisecond), float64(anonBefore)/mib, float64(peakAnon)/mib, float64(peakAnon-anonBefore)/mib,
			float64(before)/mib, float64(peak)/mib, float64(peak-before)/mib)
		b.ReportMetric(float64(peakAnon-anonBefore)/mib, r.name+"-anon-growth-MiB")
		b.ReportMetric(float64(peak-before)/mib, r.name+"-peak-rss-growth-MiB")
	}
}

// load puts keys m/0000000.. with loaders concurrent clients, txnOps puts per txn.
func load(ctx context.Context, b *testing.B, cli *clientv3.Client, keys int) {
	b.Helper()
	value := string(bytes.Repeat([]byte("v"), valueBytes))
	errs := make(chan error, loaders)
	var wg sync.WaitGroup
	for w := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := w * txnOps; first < keys; first += loaders * txnOps {
				ops := make([]clientv3.Op, 0, txnOps)
				for i := first; i < min(first+txnOps, keys); i++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("m/%07d", i), value))
				}
				if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
					errs <- fmt.Errorf("loading from key %d: %w", first, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// anonSampler is the outcome of sampleAnon: the first error reading /proc, if any.
type anonSampler struct{ err error }

// sampleAnon samples the RssAnon of pid every millisecond from a goroutine until the
// returned stop is called; stop waits for the goroutine and returns the highest sample.
func sampleAnon(pid int) (stop func() int64, s *anonSampler) {
	s = &anonSampler{}
	done := make(chan struct{})
	exited := make(chan struct{})
	var peak int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(exited)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			v, err := statusField(path, "RssAnon")
			if err != nil {
				s.err = err
				return
			}
			peak = max(peak, v)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-exited
		return peak
	}, s
}

// procStatus returns the field (in kB in the file) of /proc/<pid>/status, in bytes.
func procStatus(b *testing.B, pid int, field string) int64 {
	b.Helper()
	v, err := statusField(fmt.Sprintf("/proc/%d/status", pid), field)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// statusField returns the field (in kB in the file) of the status file at path, in bytes.
func statusField(path, field string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

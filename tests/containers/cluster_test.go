package containers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// requireChaos skips the test unless KEEL_CHAOS=1; with it set, a missing Docker engine or
// image is a failure, not a skip.
func requireChaos(t *testing.T) string {
	t.Helper()
	if os.Getenv("KEEL_CHAOS") != "1" {
		t.Skip("container tier: set KEEL_CHAOS=1 (make chaos) to run")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("KEEL_CHAOS=1 but no Docker engine: %v\n%s", err, out)
	}
	image := os.Getenv("KEEL_IMAGE")
	if image == "" {
		image = "keel:chaos"
	}
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
		t.Fatalf("image %s not found (make chaos builds it): %v\n%s", image, err, out)
	}
	return image
}

// dcluster is a Keel cluster started from deploy/compose-<size>.yml under its own project.
type dcluster struct {
	t       *testing.T
	image   string
	project string
	file    string
	names   []string  // keel1..keelN
	up      time.Time // when every member first answered
	faults  []string  // faults injected, for the report
}

// fault records a fault (and when, since the cluster came up) for the report.
func (c *dcluster) fault(format string, args ...any) {
	f := fmt.Sprintf("%s at %.1fs", fmt.Sprintf(format, args...), time.Since(c.up).Seconds())
	c.faults = append(c.faults, f)
	c.t.Logf("fault: %s", f)
}

// startCluster brings a compose cluster up and waits until every member is healthy. It is
// torn down (containers, networks, volumes) at cleanup, after dumping logs if t failed.
func startCluster(t *testing.T, size int) *dcluster {
	t.Helper()
	image := requireChaos(t)
	_, self, _, _ := runtime.Caller(0)
	c := &dcluster{
		t: t, image: image,
		project: fmt.Sprintf("keelchaos%d%d", size, time.Now().UnixNano()%1_000_000),
		file:    filepath.Join(filepath.Dir(self), "..", "..", "deploy", fmt.Sprintf("compose-%d.yml", size)),
	}
	for i := 1; i <= size; i++ {
		c.names = append(c.names, fmt.Sprintf("keel%d", i))
	}
	t.Cleanup(c.down)
	c.compose("up", "-d")
	c.waitHealthy(c.names...)
	c.up = time.Now()
	return c
}

func (c *dcluster) compose(args ...string) string {
	c.t.Helper()
	cmd := exec.Command("docker-compose", append([]string{"-p", c.project, "-f", c.file}, args...)...)
	cmd.Env = append(os.Environ(), "KEEL_IMAGE="+c.image)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (c *dcluster) down() {
	if c.t.Failed() {
		for _, n := range c.names {
			out, _ := exec.Command("docker", "logs", "--tail", "40", c.container(n)).CombinedOutput()
			c.t.Logf("logs of %s:\n%s", n, bytes.TrimSpace(out))
		}
	}
	cmd := exec.Command("docker-compose", "-p", c.project, "-f", c.file, "down", "-v", "-t", "2")
	cmd.Env = append(os.Environ(), "KEEL_IMAGE="+c.image)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Errorf("docker-compose down: %v\n%s", err, out)
	}
}

// container returns the container name of member n (docker-compose v1 naming).
func (c *dcluster) container(n string) string { return c.project + "_" + n + "_1" }

func (c *dcluster) network(which string) string { return c.project + "_" + which }

// endpoint returns member n's client endpoint (its address on the client network); it
// changes when a container restarts.
func (c *dcluster) endpoint(n string) string {
	c.t.Helper()
	ip := docker(c.t, "inspect", "-f",
		fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, c.network("client")), c.container(n))
	return ip + ":2379"
}

func (c *dcluster) endpoints(names ...string) []string {
	var eps []string
	for _, n := range names {
		eps = append(eps, c.endpoint(n))
	}
	return eps
}

// isolate cuts member n off the peer network; clients still reach it.
func (c *dcluster) isolate(n string) {
	docker(c.t, "network", "disconnect", c.network("peer"), c.container(n))
	c.fault("%s cut off the peer network", n)
}

// heal reconnects member n to the peer network under its peer name.
func (c *dcluster) heal(n string) {
	docker(c.t, "network", "connect", "--alias", n+"-peer", c.network("peer"), c.container(n))
	c.fault("%s reconnected", n)
}

func (c *dcluster) kill(n string) {
	docker(c.t, "kill", c.container(n))
	c.fault("%s killed", n)
}

func (c *dcluster) start(n string) {
	docker(c.t, "start", c.container(n))
	c.fault("%s restarted", n)
}

func newClient(t *testing.T, eps ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// eventually polls f until it returns nil, failing with its last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHealthy waits until each named member answers a linearizable read.
func (c *dcluster) waitHealthy(names ...string) {
	c.t.Helper()
	for _, n := range names {
		eventually(c.t, 60*time.Second, n+" healthy", func(ctx context.Context) error {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.endpoint(n)}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				return err
			}
			defer cli.Close()
			_, err = cli.Get(ctx, "health")
			return err
		})
	}
}

// leader returns the name of the member that member from believes leads, or "" if none
// (or from cannot be reached).
func (c *dcluster) leader(ctx context.Context, from string) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.endpoint(from)}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	st, err := cli.Status(ctx, c.endpoint(from))
	if err != nil {
		return "", err
	}
	if st.Leader == 0 {
		return "", fmt.Errorf("%s knows no leader", from)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range ml.Members {
		if m.ID == st.Leader {
			return m.Name, nil
		}
	}
	return "", fmt.Errorf("leader %x not in the member list", st.Leader)
}

// waitLeader waits until every member in among agrees on a leader that is also in among.
func (c *dcluster) waitLeader(among ...string) string {
	c.t.Helper()
	var leader string
	eventually(c.t, 30*time.Second, "leader", func(ctx context.Context) error {
		leader = ""
		for _, n := range among {
			l, err := c.leader(ctx, n)
			if err != nil {
				return err
			}
			if leader != "" && l != leader {
				return fmt.Errorf("%s sees leader %s, others %s", n, l, leader)
			}
			leader = l
		}
		for _, n := range among {
			if n == leader {
				return nil
			}
		}
		return fmt.Errorf("leader %s is not among %v", leader, among)
	})
	return leader
}

// converge waits until the named members are at the same revision with the same HashKV,
// and returns that revision and hash.
func (c *dcluster) converge(names ...string) (rev int64, hash uint32) {
	c.t.Helper()
	eventually(c.t, 60*time.Second, "convergence", func(ctx context.Context) error {
		rev, hash = 0, 0
		for i, n := range names {
			ep := c.endpoint(n)
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				return err
			}
			st, err := cli.Status(ctx, ep)
			if err != nil {
				cli.Close()
				return err
			}
			if i == 0 {
				rev = st.Header.Revision
			} else if st.Header.Revision != rev {
				cli.Close()
				return fmt.Errorf("%s at revision %d, %s at %d", names[0], rev, n, st.Header.Revision)
			}
			h, err := cli.HashKV(ctx, ep, rev)
			cli.Close()
			if err != nil {
				return err
			}
			if i == 0 {
				hash = h.Hash
			} else if h.Hash != hash {
				return fmt.Errorf("HashKV at %d: %s %x, %s %x", rev, names[0], hash, n, h.Hash)
			}
		}
		return nil
	})
	return rev, hash
}

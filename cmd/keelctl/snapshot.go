package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/keeldb/keel/raftstore"
)

// snapshotSaveFlags: snapshot save FILE streams a snapshot from exactly one endpoint, as
// etcdctl does, into FILE.part, checks its SHA-256 trailer, fsyncs it and renames it to FILE.
func snapshotSaveFlags(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		eps := e.g.endpointList()
		if len(eps) != 1 {
			return fmt.Errorf("snapshot must be requested to one selected node, not multiple %v", eps)
		}
		cli, err := e.g.client(eps)
		if err != nil {
			return err
		}
		defer cli.Close()
		path := e.args[0]
		size, err := saveSnapshot(ctx, cli.Snapshot, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Snapshot saved at %s (%d bytes)\n", path, size)
		return nil
	}
}

// saveSnapshot writes the stream open returns to path (through path.part) and verifies the
// SHA-256 trailer over the backend bytes.
func saveSnapshot(ctx context.Context, open func(context.Context) (io.ReadCloser, error), path string) (int64, error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(part) // no-op after the rename
	rc, err := open(ctx)
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	n, err := io.Copy(f, rc)
	rc.Close()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if err := checkTrailer(part, n); err != nil {
		return 0, err
	}
	return n, os.Rename(part, path)
}

// checkTrailer verifies that the file at path (size bytes) ends with the SHA-256 of the rest.
func checkTrailer(path string, size int64) error {
	if size < sha256.Size || size%512 != sha256.Size {
		return fmt.Errorf("snapshot: %d bytes is not a backend followed by its SHA-256", size)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, size-sha256.Size); err != nil {
		return err
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return err
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return fmt.Errorf("snapshot: SHA-256 mismatch: got %x, want %x", got, want)
	}
	return nil
}

// snapshotStatusFlags: snapshot status FILE prints the snapshot's hash (Keel's HashKV at its
// revision), revision, key count and size.
func snapshotStatusFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	skip := fs.Bool("skip-hash-check", false, "accept a file without the SHA-256 trailer")
	return func(_ context.Context, e *env) error {
		info, err := raftstore.ReadSnapshotInfo(e.args[0], *skip)
		if err != nil {
			return err
		}
		return printSnapshotStatus(e.stdout, e.g.writeOut, info)
	}
}

// restoreOptions are etcdctl snapshot restore's flags.
type restoreOptions struct {
	name, dataDir, initialCluster, token, advertisePeerURLs string
	raftLogBackend                                          string
	skipHashCheck                                           bool
}

// snapshotRestoreFlags: snapshot restore FILE writes a data dir that keeld starts from as a
// member of a new cluster (see raftstore.RestoreDataDir).
func snapshotRestoreFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	o := &restoreOptions{}
	fs.StringVar(&o.name, "name", "default", "human-readable name for this member")
	fs.StringVar(&o.dataDir, "data-dir", "", "path to the data directory (default <name>.etcd)")
	fs.StringVar(&o.initialCluster, "initial-cluster", "default=http://localhost:2380", "initial cluster configuration for restore bootstrap")
	fs.StringVar(&o.token, "initial-cluster-token", "etcd-cluster", "initial cluster token for the etcd cluster during restore bootstrap")
	fs.StringVar(&o.advertisePeerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "list of this member's peer URLs to advertise to the rest of the cluster")
	fs.BoolVar(&o.skipHashCheck, "skip-hash-check", false, "ignore snapshot integrity hash value (required if copied from data directory)")
	fs.StringVar(&o.raftLogBackend, "raft-log-backend", string(raftstore.LogBackendWAL), "Keel only: the raft log of the new data dir, wal or bolt")
	return func(_ context.Context, e *env) error {
		cfg, err := o.config(e.args[0])
		if err != nil {
			return err
		}
		if err := raftstore.RestoreDataDir(cfg); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Restored snapshot %s into %s (member %s of a new cluster)\n", cfg.Snapshot, cfg.DataDir, cfg.Name)
		return nil
	}
}

// config checks the flags (the advertised peer URLs must be this member's entry in the
// initial cluster, as etcd requires) and returns the restore configuration.
func (o *restoreOptions) config(snapshot string) (raftstore.RestoreConfig, error) {
	members, err := parseInitialCluster(o.initialCluster)
	if err != nil {
		return raftstore.RestoreConfig{}, err
	}
	backend, err := raftstore.ParseLogBackend(o.raftLogBackend)
	if err != nil {
		return raftstore.RestoreConfig{}, err
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = o.name + ".etcd"
	}
	adv := splitList(o.advertisePeerURLs)
	var self *raftstore.Member
	for i := range members {
		if members[i].Name == o.name {
			self = &members[i]
		}
	}
	if self == nil {
		return raftstore.RestoreConfig{}, fmt.Errorf("member %q is not in --initial-cluster %q", o.name, o.initialCluster)
	}
	a, b := slices.Clone(adv), slices.Clone(self.PeerURLs)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return raftstore.RestoreConfig{}, fmt.Errorf("--initial-cluster has %s=%s but --initial-advertise-peer-urls is %s",
			o.name, strings.Join(self.PeerURLs, ","), strings.Join(adv, ","))
	}
	return raftstore.RestoreConfig{Snapshot: snapshot, Name: o.name, DataDir: dataDir, InitialCluster: members,
		Token: o.token, SkipHashCheck: o.skipHashCheck, LogBackend: backend}, nil
}

// parseInitialCluster parses "name=url,name=url,..."; a name may repeat for several URLs.
func parseInitialCluster(s string) ([]raftstore.Member, error) {
	var out []raftstore.Member
	for _, kv := range splitList(s) {
		name, u, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("bad --initial-cluster entry %q (want name=url)", kv)
		}
		if p, err := url.Parse(u); err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return nil, fmt.Errorf("bad peer URL %q in --initial-cluster", u)
		}
		i := slices.IndexFunc(out, func(m raftstore.Member) bool { return m.Name == name })
		if i < 0 {
			out = append(out, raftstore.Member{Name: name})
			i = len(out) - 1
		}
		out[i].PeerURLs = append(out[i].PeerURLs, u)
	}
	if len(out) == 0 {
		return nil, errors.New("--initial-cluster is empty")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

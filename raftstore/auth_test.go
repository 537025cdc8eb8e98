package raftstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"

	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/raftstore"
)

// TestAuthEntriesAreCheckedAtApplyAndReachAFollowerBySnapshot proposes auth changes, checks
// that writes carrying a caller are refused at apply on the leader whichever member they came
// through (with the errors crossing the forwarder), and that a follower that was down
// catches up by installing a snapshot and has the same auth state.
func TestAuthEntriesAreCheckedAtApplyAndReachAFollowerBySnapshot(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	restored := &messageCounter{msg: "restored snapshot"}
	c := newClusterWith(t, dirs, "test", func(_ int, cfg *raftstore.Config) {
		cfg.Logger = slog.New(restored)
		cfg.WALSegmentBytes = 64 << 10 // see TestFollowerInstallsSnapshotOnEachBackend
		cfg.SnapshotCount, cfg.SnapshotCatchupEntries, cfg.SnapshotCheckInterval = 40, 10, 20*time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := c.follower(t)
	c.stop(f)
	leader := c.nodes[c.leader(t)]
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := base64.StdEncoding.EncodeToString(hash)
	for _, r := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: h}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: h}},
		{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "app"}},
		{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app",
			Perm: &authpb.Permission{Key: []byte("a/"), RangeEnd: []byte("a0"), PermType: authpb.READWRITE}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "app"}},
		{AuthEnable: &pb.AuthEnableRequest{}},
	} {
		if _, err := leader.AuthRequest(ctx, r); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
	}
	if _, err := leader.AuthRequest(ctx, &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "alice"},
		AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "x"}}); !errors.Is(err, auth.ErrPermissionDenied) {
		t.Fatalf("alice adds a role: got %v, want ErrPermissionDenied", err)
	}
	rev := leader.Auth().Revision()
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		alice := raftstore.WithAuthInfo(ctx, auth.Info{User: "alice", Revision: rev})
		if _, err := n.Put(alice, &pb.PutRequest{Key: []byte(fmt.Sprintf("a/%d", i)), Value: []byte("v")}); err != nil {
			t.Fatalf("alice puts in her prefix via member %d: %v", i, err)
		}
		if _, err := n.Put(alice, &pb.PutRequest{Key: []byte("b"), Value: []byte("v")}); !errors.Is(err, auth.ErrPermissionDenied) {
			t.Fatalf("alice puts outside via member %d: got %v, want ErrPermissionDenied", i, err)
		}
		old := raftstore.WithAuthInfo(ctx, auth.Info{User: "alice", Revision: rev - 1})
		if _, err := n.Put(old, &pb.PutRequest{Key: []byte("a/x"), Value: []byte("v")}); !errors.Is(err, auth.ErrAuthOldRevision) {
			t.Fatalf("a caller at an old auth revision via member %d: got %v, want ErrAuthOldRevision", i, err)
		}
		nobody := raftstore.WithAuthInfo(ctx, auth.Info{})
		if _, err := n.Put(nobody, &pb.PutRequest{Key: []byte("a/x"), Value: []byte("v")}); !errors.Is(err, auth.ErrUserEmpty) {
			t.Fatalf("no caller via member %d: got %v, want ErrUserEmpty", i, err)
		}
	}
	// Enough entries for the leader to snapshot and drop its log past the follower (several
	// WAL segments, as TestFollowerInstallsSnapshotOnEachBackend).
	writeValues(t, c, "z/", 300, 1024)
	c.start(f)
	eventually(t, 30*time.Second, func() error {
		a := c.nodes[f].Auth()
		if !a.Enabled() || a.Revision() != rev {
			return fmt.Errorf("follower auth: enabled %v revision %d, want true %d", a.Enabled(), a.Revision(), rev)
		}
		return a.CheckRange(auth.Info{User: "alice", Revision: rev}, []byte("a/1"), nil)
	})
	if restored.count.Load() == 0 {
		t.Fatal("the follower caught up without installing a snapshot")
	}
	if err := c.nodes[f].Auth().CheckRange(auth.Info{User: "alice", Revision: rev}, []byte("b"), nil); !errors.Is(err, auth.ErrPermissionDenied) {
		t.Fatalf("follower: alice reads outside: got %v", err)
	}
}

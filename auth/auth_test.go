package auth

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
)

// memBackend is an in-memory stand-in for the mvcc store's auxiliary buckets.
type memBackend map[string]map[string][]byte

func (m memBackend) SetAux(bucket, key, value []byte) {
	if m[string(bucket)] == nil {
		m[string(bucket)] = map[string][]byte{}
	}
	m[string(bucket)][string(key)] = append([]byte(nil), value...)
}

func (m memBackend) DeleteAux(bucket, key []byte) { delete(m[string(bucket)], string(key)) }

func (m memBackend) ForEachAux(bucket []byte, fn func(k, v []byte) error) error {
	for k, v := range m[string(bucket)] {
		if err := fn([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func TestIntervalSet(t *testing.T) {
	perms := []*authpb.Permission{
		{Key: []byte("a"), RangeEnd: []byte("c")},
		{Key: []byte("b"), RangeEnd: []byte("d")},
		{Key: []byte("d")},                          // single key
		{Key: []byte("k")},                          // single key, isolated
		{Key: []byte("p/"), RangeEnd: []byte("p0")}, // prefix p/
		{Key: []byte("x"), RangeEnd: []byte{0}},     // from key x
	}
	var ivs []interval
	for _, p := range perms {
		ivs = append(ivs, permInterval(p))
	}
	s := newIntervalSet(ivs)
	tests := []struct {
		key, end string
		want     bool
	}{
		{"a", "", true},
		{"c", "", true},
		{"d", "", true},
		{"d\x00", "", false},
		{"k", "", true},
		{"k0", "", false},
		{"a", "d", true},
		{"a", "d\x00", true},
		{"a", "e", false},
		{"0", "b", false},
		{"k", "k\x00", true},
		{"k", "l", false},
		{"p/", "p0", true},
		{"p/a", "p/b", true},
		{"p", "p0", false},
		{"x", "\x00", true},
		{"y", "\x00", true},
		{"w", "\x00", false},
		{"zzz", "", true},
		{"", "\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.key+"-"+tt.end, func(t *testing.T) {
			if got := s.containsRange([]byte(tt.key), []byte(tt.end)); got != tt.want {
				t.Fatalf("containsRange(%q, %q) = %v, want %v", tt.key, tt.end, got, tt.want)
			}
		})
	}
}

func hashed(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(h)
}

func mustApply(t *testing.T, s *Store, w Writer, info Info, r *pb.InternalRaftRequest) {
	t.Helper()
	r.Header = &pb.RequestHeader{Username: info.User, AuthRevision: info.Revision}
	if _, err := s.Apply(w, 1, r); err != nil {
		t.Fatalf("apply %v: %v", r, err)
	}
}

func TestStore(t *testing.T) {
	be := memBackend{}
	now := time.Unix(1000, 0)
	tokens := NewSimpleTokens(time.Minute, func() time.Time { return now })
	s := New(tokens)
	none := Info{}
	if _, err := s.Apply(be, 1, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}); !errors.Is(err, ErrRootUserNotExist) {
		t.Fatalf("enable without root: got %v, want ErrRootUserNotExist", err)
	}
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "rootpw")}})
	if _, err := s.Apply(be, 1, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}); !errors.Is(err, ErrRootRoleNotExist) {
		t.Fatalf("enable without root role: got %v, want ErrRootRoleNotExist", err)
	}
	if _, err := s.Apply(be, 1, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: "x"}}); !errors.Is(err, ErrUserAlreadyExist) {
		t.Fatalf("duplicate user: got %v", err)
	}
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}})
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "pw")}})
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "app"}})
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app",
		Perm: &authpb.Permission{Key: []byte("/app/"), RangeEnd: []byte("/app0"), PermType: authpb.READWRITE}}})
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "app"}})
	revBefore := s.Revision()
	mustApply(t, s, be, none, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
	if !s.Enabled() || s.Revision() != revBefore {
		t.Fatalf("after enable: enabled %v revision %d, want true %d", s.Enabled(), s.Revision(), revBefore)
	}

	rev := s.Revision()
	alice, root := Info{User: "alice", Revision: rev}, Info{User: "root", Revision: rev}
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"alice reads her prefix", s.CheckRange(alice, []byte("/app/x"), nil), nil},
		{"alice reads the whole prefix", s.CheckRange(alice, []byte("/app/"), []byte("/app0")), nil},
		{"alice reads outside", s.CheckRange(alice, []byte("/other"), nil), ErrPermissionDenied},
		{"alice puts", s.CheckPut(alice, &pb.PutRequest{Key: []byte("/app/k")}), nil},
		{"alice txn with a denied compare", s.CheckTxn(alice, &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("/secret")}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/app/k")}}}},
		}), ErrPermissionDenied},
		{"alice txn with a denied failure op", s.CheckTxn(alice, &pb.TxnRequest{
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("/x")}}}},
		}), ErrPermissionDenied},
		{"no user", s.CheckRange(Info{}, []byte("/app/x"), nil), ErrUserEmpty},
		{"old revision", s.CheckRange(Info{User: "alice", Revision: rev - 1}, []byte("/app/x"), nil), ErrAuthOldRevision},
		{"root reads anything", s.CheckRange(root, []byte("/secret"), []byte{0}), nil},
		{"alice is no admin", s.CheckAdmin(alice), ErrPermissionDenied},
		{"root is admin", s.CheckAdmin(root), nil},
		{"lease keys", s.CheckKeys(alice, []string{"/app/a", "/b"}), ErrPermissionDenied},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, c.want) {
				t.Fatalf("got %v, want %v", c.err, c.want)
			}
		})
	}

	// Admin requests are checked against the header once auth is enabled.
	if _, err := s.Apply(be, 2, &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "alice", AuthRevision: rev},
		AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "x"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("alice adds a role: got %v, want ErrPermissionDenied", err)
	}
	if _, err := s.Apply(be, 2, &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "root", AuthRevision: rev},
		AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}); !errors.Is(err, ErrInvalidAuthMgmt) {
		t.Fatalf("delete root while enabled: got %v, want ErrInvalidAuthMgmt", err)
	}

	// Passwords and tokens.
	if _, err := s.CheckPassword("alice", "bad"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: got %v", err)
	}
	if _, err := s.CheckPassword("alice", "pw"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	resp, err := s.Apply(be, 42, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	token := resp.(*pb.AuthenticateResponse).Token
	if token != "abc.42" || TokenIndex(token) != 42 {
		t.Fatalf("token %q, want abc.42", token)
	}
	if info, ok := tokens.Info(token, s.Revision()); !ok || info.User != "alice" {
		t.Fatalf("token info %v %v", info, ok)
	}
	now = now.Add(59 * time.Second)
	if _, ok := tokens.Info(token, s.Revision()); !ok {
		t.Fatal("token expired before its TTL after use")
	}
	now = now.Add(61 * time.Second)
	if _, ok := tokens.Info(token, s.Revision()); ok {
		t.Fatal("token valid after its TTL")
	}

	// Revoking the role takes the permission away and raises the revision.
	mustApply(t, s, be, root, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "app"}})
	if s.Revision() != rev+1 {
		t.Fatalf("revision %d after revoke, want %d", s.Revision(), rev+1)
	}
	if err := s.CheckRange(Info{User: "alice", Revision: s.Revision()}, []byte("/app/x"), nil); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("after revoke: got %v", err)
	}

	// The backend holds it all: a fresh store loads the same state.
	s2 := New(NewSimpleTokens(0, nil))
	if err := s2.Load(be); err != nil {
		t.Fatal(err)
	}
	if !s2.Enabled() || s2.Revision() != s.Revision() {
		t.Fatalf("loaded: enabled %v revision %d, want true %d", s2.Enabled(), s2.Revision(), s.Revision())
	}
	if got := s2.UserList().Users; len(got) != 2 || got[0] != "alice" || got[1] != "root" {
		t.Fatalf("loaded users %v", got)
	}
	if r, err := s2.RoleGet("app"); err != nil || len(r.Perm) != 1 || string(r.Perm[0].Key) != "/app/" {
		t.Fatalf("loaded role %v %v", r, err)
	}
	if _, err := s2.CheckPassword("alice", "pw"); err != nil {
		t.Fatalf("loaded password: %v", err)
	}
}

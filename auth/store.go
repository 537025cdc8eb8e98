package auth

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
)

// The root user and role: a user with the root role may do everything, including the auth
// and maintenance RPCs; auth can only be enabled once a root user with the root role exists.
const (
	RootUser = "root"
	RootRole = "root"
)

// Auxiliary buckets of the store's backend, in etcd's layout: users and roles keyed by name
// holding authpb.User and authpb.Role, and the enabled flag and auth revision.
var (
	bucketAuth     = []byte("auth")
	bucketUsers    = []byte("authUsers")
	bucketRoles    = []byte("authRoles")
	keyEnabled     = []byte("authEnabled")
	keyRevision    = []byte("authRevision")
	flagEnabled    = []byte{1}
	flagNotEnabled = []byte{0}
)

// Buckets returns the names of the auxiliary buckets the store keeps its state in; they are
// etcd's bucket names, with etcd's encoding, so a snapshot's auth state moves between etcd
// and Keel by copying them (raftstore's snapshot export and restore).
func Buckets() []string {
	return []string{string(bucketAuth), string(bucketUsers), string(bucketRoles)}
}

// Info identifies the caller of a request: the user a token or client certificate names and
// the auth revision it was checked at. The zero Info is an unauthenticated caller.
type Info struct {
	User     string
	Revision uint64
}

// Writer is the replicated backend a mutation is recorded in (an mvcc write transaction).
type Writer interface {
	SetAux(bucket, key, value []byte)
	DeleteAux(bucket, key []byte)
}

// Reader reads the backend's auxiliary buckets (the mvcc store).
type Reader interface {
	ForEachAux(bucket []byte, fn func(k, v []byte) error) error
}

// Store is a member's copy of the replicated auth state: users, roles, the enabled flag and
// the auth revision, raised by every change. Mutations come only from Apply, on the apply
// goroutine, in log order; the checks may be called concurrently from any goroutine.
type Store struct {
	tokens TokenProvider

	// mu guards everything below. perms is derived from users and roles, rebuilt on change.
	mu      sync.RWMutex
	enabled bool
	rev     uint64
	users   map[string]*authpb.User
	roles   map[string]*authpb.Role
	perms   map[string]*userPerms
}

// New returns an empty store (auth disabled, revision 1) issuing tokens through tokens.
func New(tokens TokenProvider) *Store {
	s := &Store{tokens: tokens}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.enabled, s.rev = false, 1
	s.users, s.roles, s.perms = map[string]*authpb.User{}, map[string]*authpb.Role{}, map[string]*userPerms{}
}

// Tokens returns the store's token provider.
func (s *Store) Tokens() TokenProvider { return s.tokens }

// Load replaces the state with the backend's (at start and after a snapshot restore). A
// backend without auth state gives auth disabled at revision 1, as etcd's.
func (s *Store) Load(r Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	err := r.ForEachAux(bucketAuth, func(k, v []byte) error {
		switch string(k) {
		case string(keyEnabled):
			s.enabled = len(v) == 1 && v[0] == 1
		case string(keyRevision):
			if len(v) == 8 && binary.BigEndian.Uint64(v) > 0 {
				s.rev = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err == nil {
		err = r.ForEachAux(bucketUsers, func(k, v []byte) error {
			u := new(authpb.User)
			if err := proto.Unmarshal(v, u); err != nil {
				return fmt.Errorf("auth: decode user %q: %w", k, err)
			}
			s.users[string(k)] = u
			return nil
		})
	}
	if err == nil {
		err = r.ForEachAux(bucketRoles, func(k, v []byte) error {
			ro := new(authpb.Role)
			if err := proto.Unmarshal(v, ro); err != nil {
				return fmt.Errorf("auth: decode role %q: %w", k, err)
			}
			s.roles[string(k)] = ro
			return nil
		})
	}
	if err != nil {
		return err
	}
	s.refreshPermsLocked()
	if s.enabled {
		s.tokens.Enable()
	} else {
		s.tokens.Disable()
	}
	return nil
}

// Enabled reports whether auth is enabled.
func (s *Store) Enabled() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.enabled
}

// Revision returns the auth revision.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Status answers AuthStatus.
func (s *Store) Status() *pb.AuthStatusResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &pb.AuthStatusResponse{Enabled: s.enabled, AuthRevision: s.rev}
}

// refreshPermsLocked rebuilds every user's merged permissions.
// requires s.mu held
func (s *Store) refreshPermsLocked() {
	s.perms = make(map[string]*userPerms, len(s.users))
	for name, u := range s.users {
		s.perms[name] = mergePerms(u, s.roles)
	}
}

// commitLocked raises the revision, records it and rebuilds the permissions.
// requires s.mu held
func (s *Store) commitLocked(w Writer) {
	s.rev++
	w.SetAux(bucketAuth, keyRevision, binary.BigEndian.AppendUint64(nil, s.rev))
	s.refreshPermsLocked()
}

func putUser(w Writer, u *authpb.User) { w.SetAux(bucketUsers, u.Name, mustMarshal(u)) }
func putRole(w Writer, r *authpb.Role) { w.SetAux(bucketRoles, r.Name, mustMarshal(r)) }

func mustMarshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal %T: %v", m, err))
	}
	return b
}

// CheckPassword checks a user's password against its bcrypt hash (outside any lock; it is
// slow by design) and returns the revision it was checked at. ErrAuthNotEnabled while auth is
// disabled; ErrAuthFailed for an unknown user, a wrong password, or a user without password.
func (s *Store) CheckPassword(name, password string) (uint64, error) {
	s.mu.RLock()
	enabled, rev, u := s.enabled, s.rev, s.users[name]
	s.mu.RUnlock()
	if !enabled {
		return 0, ErrAuthNotEnabled
	}
	if u == nil || (u.Options != nil && u.Options.NoPassword) {
		return 0, ErrAuthFailed
	}
	if bcrypt.CompareHashAndPassword(u.Password, []byte(password)) != nil {
		return 0, ErrAuthFailed
	}
	return rev, nil
}

// UserGet answers AuthUserGet (the user's roles, sorted).
func (s *Store) UserGet(name string) (*pb.AuthUserGetResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil
}

// UserList answers AuthUserList (names sorted).
func (s *Store) UserList() *pb.AuthUserListResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.users))
	for n := range s.users {
		names = append(names, n)
	}
	sort.Strings(names)
	return &pb.AuthUserListResponse{Users: names}
}

// RoleGet answers AuthRoleGet (the role's permissions, sorted by key).
func (s *Store) RoleGet(name string) (*pb.AuthRoleGetResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.roles[name]
	if r == nil {
		return nil, ErrRoleNotFound
	}
	resp := &pb.AuthRoleGetResponse{}
	for _, p := range r.KeyPermission {
		resp.Perm = append(resp.Perm, proto.Clone(p).(*authpb.Permission))
	}
	return resp, nil
}

// RoleList answers AuthRoleList (names sorted).
func (s *Store) RoleList() *pb.AuthRoleListResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.roles))
	for n := range s.roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return &pb.AuthRoleListResponse{Roles: names}
}

// HasRole reports whether user holds role.
func (s *Store) HasRole(user, role string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[user]
	return u != nil && slices.Contains(u.Roles, role)
}

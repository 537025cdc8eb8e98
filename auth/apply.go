package auth

import (
	"bytes"
	"encoding/base64"
	"slices"
	"sort"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Apply applies one replicated auth request (exactly one Auth* field of r set; passwords
// already hashed by the proposer) at raft index index, recording changes in w. Requests that
// need the root role are checked against r.Header first, as etcd's authApplierV3 does. The
// outcome depends only on replicated state and r, so every member returns the same result;
// refusals are returned as errors and change nothing. The token an Authenticate assigns is
// this member's in-memory state (see TokenProvider).
func (s *Store) Apply(w Writer, index uint64, r *pb.InternalRaftRequest) (proto.Message, error) {
	var info Info
	if h := r.Header; h != nil {
		info = Info{User: h.Username, Revision: h.AuthRevision}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Authenticate == nil {
		if err := s.adminPermittedLocked(info); err != nil {
			return nil, err
		}
	}
	switch {
	case r.AuthEnable != nil:
		return &pb.AuthEnableResponse{}, s.enableLocked(w)
	case r.AuthDisable != nil:
		s.disableLocked(w)
		return &pb.AuthDisableResponse{}, nil
	case r.Authenticate != nil:
		return s.authenticateLocked(r.Authenticate, index)
	case r.AuthUserAdd != nil:
		return &pb.AuthUserAddResponse{}, s.userAddLocked(w, r.AuthUserAdd)
	case r.AuthUserDelete != nil:
		return &pb.AuthUserDeleteResponse{}, s.userDeleteLocked(w, r.AuthUserDelete.Name)
	case r.AuthUserChangePassword != nil:
		return &pb.AuthUserChangePasswordResponse{}, s.changePasswordLocked(w, r.AuthUserChangePassword)
	case r.AuthUserGrantRole != nil:
		return &pb.AuthUserGrantRoleResponse{}, s.grantRoleLocked(w, r.AuthUserGrantRole)
	case r.AuthUserRevokeRole != nil:
		return &pb.AuthUserRevokeRoleResponse{}, s.revokeRoleLocked(w, r.AuthUserRevokeRole)
	case r.AuthRoleAdd != nil:
		return &pb.AuthRoleAddResponse{}, s.roleAddLocked(w, r.AuthRoleAdd.Name)
	case r.AuthRoleDelete != nil:
		return &pb.AuthRoleDeleteResponse{}, s.roleDeleteLocked(w, r.AuthRoleDelete.Role)
	case r.AuthRoleGrantPermission != nil:
		return &pb.AuthRoleGrantPermissionResponse{}, s.grantPermLocked(w, r.AuthRoleGrantPermission)
	case r.AuthRoleRevokePermission != nil:
		return &pb.AuthRoleRevokePermissionResponse{}, s.revokePermLocked(w, r.AuthRoleRevokePermission)
	default:
		return nil, ErrInvalidAuthMgmt
	}
}

// requires s.mu held
func (s *Store) enableLocked(w Writer) error {
	if s.enabled {
		return nil
	}
	u := s.users[RootUser]
	if u == nil {
		return ErrRootUserNotExist
	}
	if !slices.Contains(u.Roles, RootRole) {
		return ErrRootRoleNotExist
	}
	// etcd records the flag without raising the revision.
	w.SetAux(bucketAuth, keyEnabled, flagEnabled)
	s.enabled = true
	s.tokens.Enable()
	return nil
}

// requires s.mu held
func (s *Store) disableLocked(w Writer) {
	if !s.enabled {
		return
	}
	w.SetAux(bucketAuth, keyEnabled, flagNotEnabled)
	s.commitLocked(w)
	s.enabled = false
	s.tokens.Disable()
}

// requires s.mu held
func (s *Store) authenticateLocked(r *pb.InternalAuthenticateRequest, index uint64) (proto.Message, error) {
	if !s.enabled {
		return nil, ErrAuthNotEnabled
	}
	u := s.users[r.Name]
	if u == nil || (u.Options != nil && u.Options.NoPassword) {
		return nil, ErrAuthFailed
	}
	// The password was checked by the proposer (CheckPassword), as in etcd.
	token, err := s.tokens.Assign(r.Name, s.rev, r.SimpleToken, index)
	if err != nil {
		return nil, err
	}
	return &pb.AuthenticateResponse{Token: token}, nil
}

// requires s.mu held
func (s *Store) userAddLocked(w Writer, r *pb.AuthUserAddRequest) error {
	if r.Name == "" {
		return ErrUserEmpty
	}
	if s.users[r.Name] != nil {
		return ErrUserAlreadyExist
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	u := &authpb.User{Name: []byte(r.Name), Options: proto.Clone(opts).(*authpb.UserAddOptions)}
	if !opts.NoPassword {
		hash, err := base64.StdEncoding.DecodeString(r.HashedPassword)
		if err != nil || len(hash) == 0 {
			return ErrNoPasswordUser
		}
		u.Password = hash
	}
	s.users[r.Name] = u
	putUser(w, u)
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) userDeleteLocked(w Writer, name string) error {
	if s.enabled && name == RootUser {
		return ErrInvalidAuthMgmt
	}
	if s.users[name] == nil {
		return ErrUserNotFound
	}
	delete(s.users, name)
	w.DeleteAux(bucketUsers, []byte(name))
	s.commitLocked(w)
	s.tokens.InvalidateUser(name)
	return nil
}

// requires s.mu held
func (s *Store) changePasswordLocked(w Writer, r *pb.AuthUserChangePasswordRequest) error {
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	hash, err := base64.StdEncoding.DecodeString(r.HashedPassword)
	if err != nil || len(hash) == 0 {
		return ErrNoPasswordUser
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Password = hash
	s.users[r.Name] = nu
	putUser(w, nu)
	s.commitLocked(w)
	s.tokens.InvalidateUser(r.Name)
	return nil
}

// requires s.mu held
func (s *Store) grantRoleLocked(w Writer, r *pb.AuthUserGrantRoleRequest) error {
	u := s.users[r.User]
	if u == nil {
		return ErrUserNotFound
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	i := sort.SearchStrings(u.Roles, r.Role)
	if i < len(u.Roles) && u.Roles[i] == r.Role {
		return nil // already granted: nothing changes, as in etcd
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Insert(nu.Roles, i, r.Role)
	s.users[r.User] = nu
	putUser(w, nu)
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) revokeRoleLocked(w Writer, r *pb.AuthUserRevokeRoleRequest) error {
	if s.enabled && r.Name == RootUser && r.Role == RootRole {
		return ErrInvalidAuthMgmt
	}
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	i := slices.Index(u.Roles, r.Role)
	if i < 0 {
		return ErrRoleNotGranted
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Delete(nu.Roles, i, i+1)
	s.users[r.Name] = nu
	putUser(w, nu)
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) roleAddLocked(w Writer, name string) error {
	if name == "" {
		return ErrRoleEmpty
	}
	if s.roles[name] != nil {
		return ErrRoleAlreadyExist
	}
	r := &authpb.Role{Name: []byte(name)}
	s.roles[name] = r
	putRole(w, r)
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) roleDeleteLocked(w Writer, name string) error {
	if s.enabled && name == RootRole {
		return ErrInvalidAuthMgmt
	}
	if s.roles[name] == nil {
		return ErrRoleNotFound
	}
	delete(s.roles, name)
	w.DeleteAux(bucketRoles, []byte(name))
	// Revoke it from every user that holds it (in name order, so the writes are the same
	// on every member).
	names := make([]string, 0, len(s.users))
	for n := range s.users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.users[n]
		if i := slices.Index(u.Roles, name); i >= 0 {
			nu := proto.Clone(u).(*authpb.User)
			nu.Roles = slices.Delete(nu.Roles, i, i+1)
			s.users[n] = nu
			putUser(w, nu)
		}
	}
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) grantPermLocked(w Writer, r *pb.AuthRoleGrantPermissionRequest) error {
	if r.Perm == nil {
		return ErrPermissionNotGiven
	}
	if !isValidPermissionRange(r.Perm.Key, r.Perm.RangeEnd) {
		return ErrInvalidAuthMgmt
	}
	role := s.roles[r.Name]
	if role == nil {
		return ErrRoleNotFound
	}
	nr := proto.Clone(role).(*authpb.Role)
	i := sort.Search(len(nr.KeyPermission), func(i int) bool {
		return bytes.Compare(nr.KeyPermission[i].Key, r.Perm.Key) >= 0
	})
	if i < len(nr.KeyPermission) && bytes.Equal(nr.KeyPermission[i].Key, r.Perm.Key) &&
		bytes.Equal(nr.KeyPermission[i].RangeEnd, r.Perm.RangeEnd) {
		nr.KeyPermission[i].PermType = r.Perm.PermType
	} else {
		nr.KeyPermission = append(nr.KeyPermission, &authpb.Permission{
			Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd, PermType: r.Perm.PermType})
		sort.SliceStable(nr.KeyPermission, func(a, b int) bool {
			return bytes.Compare(nr.KeyPermission[a].Key, nr.KeyPermission[b].Key) < 0
		})
	}
	s.roles[r.Name] = nr
	putRole(w, nr)
	s.commitLocked(w)
	return nil
}

// requires s.mu held
func (s *Store) revokePermLocked(w Writer, r *pb.AuthRoleRevokePermissionRequest) error {
	role := s.roles[r.Role]
	if role == nil {
		return ErrRoleNotFound
	}
	nr := &authpb.Role{Name: role.Name}
	for _, p := range role.KeyPermission {
		if !bytes.Equal(p.Key, r.Key) || !bytes.Equal(p.RangeEnd, r.RangeEnd) {
			nr.KeyPermission = append(nr.KeyPermission, proto.Clone(p).(*authpb.Permission))
		}
	}
	if len(nr.KeyPermission) == len(role.KeyPermission) {
		return ErrPermissionNotGranted
	}
	s.roles[r.Role] = nr
	putRole(w, nr)
	s.commitLocked(w)
	return nil
}

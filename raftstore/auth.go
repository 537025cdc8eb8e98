package raftstore

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/lease"
)

// Auth errors cross the Peer RPC by these codes, so a follower hands its client the refusal
// the leader's apply produced.
func init() {
	for code, err := range map[string]error{
		"auth_root_user_not_exist":    auth.ErrRootUserNotExist,
		"auth_root_role_not_exist":    auth.ErrRootRoleNotExist,
		"auth_user_already_exist":     auth.ErrUserAlreadyExist,
		"auth_user_empty":             auth.ErrUserEmpty,
		"auth_user_not_found":         auth.ErrUserNotFound,
		"auth_role_already_exist":     auth.ErrRoleAlreadyExist,
		"auth_role_not_found":         auth.ErrRoleNotFound,
		"auth_role_empty":             auth.ErrRoleEmpty,
		"auth_permission_not_given":   auth.ErrPermissionNotGiven,
		"auth_failed":                 auth.ErrAuthFailed,
		"auth_no_password_user":       auth.ErrNoPasswordUser,
		"auth_permission_denied":      auth.ErrPermissionDenied,
		"auth_role_not_granted":       auth.ErrRoleNotGranted,
		"auth_permission_not_granted": auth.ErrPermissionNotGranted,
		"auth_not_enabled":            auth.ErrAuthNotEnabled,
		"auth_old_revision":           auth.ErrAuthOldRevision,
		"auth_invalid_token":          auth.ErrInvalidAuthToken,
		"auth_invalid_mgmt":           auth.ErrInvalidAuthMgmt,
	} {
		errorCodes[code] = err
	}
}

type authInfoKey struct{}

// WithAuthInfo returns ctx naming the client a request runs as: the Put, DeleteRange, Txn
// and LeaseRevoke proposed with it carry info in their entry, and applying the entry checks
// the client's permissions against the auth store at that point of the log (as etcd's
// authApplierV3 does), so a role change committed before the write is always enforced.
func WithAuthInfo(ctx context.Context, info auth.Info) context.Context {
	return context.WithValue(ctx, authInfoKey{}, info)
}

func authInfoFrom(ctx context.Context) *keelpb.AuthInfo {
	info, ok := ctx.Value(authInfoKey{}).(auth.Info)
	if !ok {
		return nil
	}
	return &keelpb.AuthInfo{User: info.User, Revision: info.Revision}
}

// Auth returns the member's auth store (replicated users, roles and flags; its tokens).
func (n *Node) Auth() *auth.Store { return n.auth }

// AuthRequest proposes one auth change (exactly one Auth* field of r set, passwords already
// hashed, r.Header naming the caller) and returns its response once applied.
func (n *Node) AuthRequest(ctx context.Context, r *pb.InternalRaftRequest) (proto.Message, error) {
	cmd := &keelpb.Command{Cmd: &keelpb.Command_Auth{Auth: mustMarshal(r)}}
	return proposeAs(ctx, n, cmd, authResponseBlank(r))
}

// authResponseBlank returns the empty response type of an auth request.
func authResponseBlank(r *pb.InternalRaftRequest) proto.Message {
	switch {
	case r.AuthEnable != nil:
		return new(pb.AuthEnableResponse)
	case r.AuthDisable != nil:
		return new(pb.AuthDisableResponse)
	case r.Authenticate != nil:
		return new(pb.AuthenticateResponse)
	case r.AuthUserAdd != nil:
		return new(pb.AuthUserAddResponse)
	case r.AuthUserDelete != nil:
		return new(pb.AuthUserDeleteResponse)
	case r.AuthUserChangePassword != nil:
		return new(pb.AuthUserChangePasswordResponse)
	case r.AuthUserGrantRole != nil:
		return new(pb.AuthUserGrantRoleResponse)
	case r.AuthUserRevokeRole != nil:
		return new(pb.AuthUserRevokeRoleResponse)
	case r.AuthRoleAdd != nil:
		return new(pb.AuthRoleAddResponse)
	case r.AuthRoleDelete != nil:
		return new(pb.AuthRoleDeleteResponse)
	case r.AuthRoleGrantPermission != nil:
		return new(pb.AuthRoleGrantPermissionResponse)
	case r.AuthRoleRevokePermission != nil:
		return new(pb.AuthRoleRevokePermissionResponse)
	default:
		return new(pb.AuthStatusResponse)
	}
}

// applyAuth applies an auth entry in one write transaction.
func (n *Node) applyAuth(index uint64, raw []byte) *applyResult {
	var r pb.InternalRaftRequest
	mustUnmarshal(raw, &r, index)
	w := n.store.Write(index)
	resp, err := n.auth.Apply(w, index, &r)
	w.End()
	return &applyResult{resp: resp, err: err}
}

// authorize checks a client entry's caller with check; entries without AuthInfo are the
// members' own and pass.
func (n *Node) authorize(ai *keelpb.AuthInfo, check func(auth.Info) error) error {
	if ai == nil || !n.auth.Enabled() {
		return nil
	}
	return check(auth.Info{User: ai.User, Revision: ai.Revision})
}

// authorizePut checks a Put: WRITE (and READ for prev_kv) on its key, and WRITE on every key
// already attached to the lease it attaches the key to (whoever may not revoke the lease
// may not extend it, as in etcd).
func (n *Node) authorizePut(ai *keelpb.AuthInfo, r *pb.PutRequest) error {
	return n.authorize(ai, func(info auth.Info) error {
		if err := n.auth.CheckPut(info, r); err != nil {
			return err
		}
		return n.authorizeLeaseKeys(info, r.Lease)
	})
}

func (n *Node) authorizeLeaseKeys(info auth.Info, id int64) error {
	if id == 0 {
		return nil
	}
	l, err := n.lessor.Lookup(lease.ID(id))
	if err != nil {
		return nil // no such lease: the apply refuses it as etcd does
	}
	return n.auth.CheckKeys(info, l.Keys)
}

// loadAuth loads the auth state from the backend (at start and after a restore).
func (n *Node) loadAuth() error {
	if err := n.auth.Load(n.store); err != nil {
		return fmt.Errorf("raftstore: load auth: %w", err)
	}
	return nil
}

// AuthInfoFromContext returns the caller WithAuthInfo put in ctx.
func AuthInfoFromContext(ctx context.Context) (auth.Info, bool) {
	info, ok := ctx.Value(authInfoKey{}).(auth.Info)
	return info, ok
}

package server

import (
	"context"
	"encoding/base64"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/raftstore"
)

// Auth in the server (docs/ETCD-API.md "Auth"): an interceptor resolves the caller of every
// RPC but Authenticate from its token ("token" or "authorization" metadata) while auth is
// enabled and puts it in the context with raftstore.WithAuthInfo. Writes carry it in their
// raft entry and are checked when the entry applies, on every member at the same point of the
// log (etcd's choice; no window between a role change and a write). Reads, watches and
// the auth read RPCs are checked on the serving member after their read barrier, against
// the auth state that barrier made current. Root-only RPCs are listed in rootOnly.

// rootOnly are the RPCs only a user with the root role may call while auth is enabled: as
// etcd's authMaintenanceServer, checkMembershipOperationPermission and needAdminPermission.
// Like etcd, Compact, Alarm and Status are open to every authenticated user (and to none
// without a user where a check applies; Status and Alarm check nothing).
var rootOnly = map[string]bool{
	"/etcdserverpb.Maintenance/Defragment":    true,
	"/etcdserverpb.Maintenance/Hash":          true,
	"/etcdserverpb.Maintenance/HashKV":        true,
	"/etcdserverpb.Maintenance/Snapshot":      true,
	"/etcdserverpb.Maintenance/MoveLeader":    true,
	"/etcdserverpb.Maintenance/Downgrade":     true,
	"/etcdserverpb.Cluster/MemberAdd":         true,
	"/etcdserverpb.Cluster/MemberRemove":      true,
	"/etcdserverpb.Cluster/MemberUpdate":      true,
	"/etcdserverpb.Cluster/MemberPromote":     true,
	"/etcdserverpb.Auth/AuthStatus":           true,
	"/etcdserverpb.Auth/UserList":             true,
	"/etcdserverpb.Auth/RoleList":             true,
	"/etcdserverpb.Auth/AuthEnable":           true,
	"/etcdserverpb.Auth/AuthDisable":          true,
	"/etcdserverpb.Auth/UserAdd":              true,
	"/etcdserverpb.Auth/UserDelete":           true,
	"/etcdserverpb.Auth/UserChangePassword":   true,
	"/etcdserverpb.Auth/UserGrantRole":        true,
	"/etcdserverpb.Auth/UserRevokeRole":       true,
	"/etcdserverpb.Auth/RoleAdd":              true,
	"/etcdserverpb.Auth/RoleDelete":           true,
	"/etcdserverpb.Auth/RoleGrantPermission":  true,
	"/etcdserverpb.Auth/RoleRevokePermission": true,
}

const authenticateMethod = "/etcdserverpb.Auth/Authenticate"

// resolveAuth returns the caller of ctx: with auth disabled the zero Info; else the user
// its token names (ErrInvalidAuthToken for a token that names nobody) or, without a token,
// the common name of its verified client certificate when Config.ClientCertAuth is set, or
// else the zero Info, which every check refuses with ErrUserEmpty.
func (s *Server) resolveAuth(ctx context.Context) (auth.Info, error) {
	as := s.node.Auth()
	if !as.Enabled() {
		return auth.Info{}, nil
	}
	token := tokenFromContext(ctx)
	if token == "" {
		// etcd's AuthInfoFromTLS: with --client-cert-auth, the certificate's CN is the user.
		if s.cfg.ClientCertAuth {
			if cn := certUser(ctx); cn != "" {
				return auth.Info{User: cn, Revision: as.Revision()}, nil
			}
		}
		return auth.Info{}, nil
	}
	if info, ok := as.Tokens().Info(token, as.Revision()); ok {
		return info, nil
	}
	// A token assigned by an entry this member has not applied yet (the client authenticated
	// through this member a moment ago): wait for it, then look again.
	if idx := auth.TokenIndex(token); idx > s.node.AppliedIndex() {
		// The entry was committed before its client saw the token, so a read index covers it.
		if err := s.linearize(ctx); err != nil {
			return auth.Info{}, err
		}
		if info, ok := as.Tokens().Info(token, as.Revision()); ok {
			return info, nil
		}
	}
	return auth.Info{}, auth.ErrInvalidAuthToken
}

func tokenFromContext(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	for _, k := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if v := md.Get(k); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// withAuth resolves the caller of method and returns ctx carrying it, refusing root-only
// methods to anyone else.
func (s *Server) withAuth(ctx context.Context, method string) (context.Context, error) {
	if method == authenticateMethod || !s.node.Auth().Enabled() {
		return ctx, nil
	}
	info, err := s.resolveAuth(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if rootOnly[method] {
		if err := s.node.Auth().CheckAdmin(info); err != nil {
			return nil, toGRPCError(err)
		}
	}
	return raftstore.WithAuthInfo(ctx, info), nil
}

func (s *Server) unaryAuthInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo,
	h grpc.UnaryHandler) (any, error) {
	ctx, err := s.withAuth(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) streamAuthInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo,
	h grpc.StreamHandler) error {
	ctx, err := s.withAuth(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &authStream{ServerStream: ss, ctx: ctx})
}

type authStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authStream) Context() context.Context { return a.ctx }

// checkRead checks READ over [key, rangeEnd) for the caller of ctx, resolved again so the
// check uses the auth state the read barrier made current.
func (s *Server) checkRead(ctx context.Context, key, rangeEnd []byte) error {
	return s.checkAuth(ctx, func(as *auth.Store, info auth.Info) error { return as.CheckRange(info, key, rangeEnd) })
}

func (s *Server) checkAuth(ctx context.Context, check func(*auth.Store, auth.Info) error) error {
	as := s.node.Auth()
	if !as.Enabled() {
		return nil
	}
	info, err := s.resolveAuth(ctx)
	if err != nil {
		return toGRPCError(err)
	}
	return toGRPCError(check(as, info))
}

// retryAuth runs a proposal made as the caller of ctx. An entry refused with
// ErrAuthOldRevision was checked against auth state newer than the one the caller was
// resolved at (a change applied in between); like etcd's server, resolve the caller again
// once this member has caught up and propose again. A caller whose revision cannot move (a
// JWT) gets the error, and its client re-authenticates.
func retryAuth[T any](s *Server, ctx context.Context, propose func(context.Context) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		resp, err := propose(ctx)
		if !errors.Is(err, auth.ErrAuthOldRevision) || attempt == 3 || !s.node.Auth().Enabled() {
			return resp, err
		}
		prev, _ := raftstore.AuthInfoFromContext(ctx)
		if err := s.linearize(ctx); err != nil {
			return resp, err
		}
		info, rerr := s.resolveAuth(ctx)
		if rerr != nil || info.Revision <= prev.Revision {
			return resp, err
		}
		ctx = raftstore.WithAuthInfo(ctx, info)
	}
}

// acquireBcrypt admits one bcrypt computation (tens of milliseconds of CPU each): at most
// half of GOMAXPROCS (at least one) run at once, so a burst of Authenticate calls queues here instead of filling
// the scheduler's run queues with CPU-bound goroutines that delay raft's heartbeats and the
// apply loop (measured in bench/PERFORMANCE.md "Auth": without it a burst of 64 concurrent
// Authenticate calls on 2 cores cost leader elections).
func (s *Server) acquireBcrypt(ctx context.Context) error {
	select {
	case s.bcryptSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) releaseBcrypt() { <-s.bcryptSem }

// authServer is etcd's Auth service.
type authServer struct {
	pb.UnimplementedAuthServer
	s *Server
}

// maxAuthenticateAttempts bounds how often Authenticate checks the password again because
// the auth state changed meanwhile (etcd retries without a bound).
const maxAuthenticateAttempts = 5

// Authenticate checks the password here (bcrypt, outside the log), then proposes the
// authentication so every member learns the token, as etcd does. If the auth state changed
// while the password was checked, it checks again.
func (a *authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if err := a.s.linearize(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	as := a.s.node.Auth()
	for attempt := 0; ; attempt++ {
		if attempt == maxAuthenticateAttempts {
			// The auth state kept changing under the password check.
			return nil, toGRPCError(auth.ErrAuthOldRevision)
		}
		if err := a.s.acquireBcrypt(ctx); err != nil {
			return nil, toGRPCError(err)
		}
		rev, err := as.CheckPassword(r.Name, r.Password)
		a.s.releaseBcrypt()
		if err != nil {
			return nil, toGRPCError(err)
		}
		prefix, err := as.Tokens().Prefix()
		if err != nil {
			return nil, toGRPCError(err)
		}
		pctx, cancel := a.s.requestContext(ctx)
		resp, err := a.s.node.AuthRequest(pctx, &pb.InternalRaftRequest{
			Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: prefix}})
		cancel()
		if err != nil {
			return nil, toGRPCError(err)
		}
		if rev == as.Revision() {
			out := resp.(*pb.AuthenticateResponse)
			out.Header = a.s.fillHeader(out.Header)
			return out, nil
		}
	}
}

// change proposes an auth change as the caller of ctx and fills the response header.
func change[T interface {
	proto.Message
	GetHeader() *pb.ResponseHeader
}](a *authServer, ctx context.Context, r *pb.InternalRaftRequest) (T, error) {
	var zero T
	ctx, cancel := a.s.requestContext(ctx)
	defer cancel()
	resp, err := retryAuth(a.s, ctx, func(ctx context.Context) (proto.Message, error) {
		info, _ := raftstore.AuthInfoFromContext(ctx)
		r.Header = &pb.RequestHeader{Username: info.User, AuthRevision: info.Revision}
		return a.s.node.AuthRequest(ctx, r)
	})
	if err != nil {
		return zero, toGRPCError(err)
	}
	t := resp.(T)
	setHeader(t, a.s.fillHeader(t.GetHeader()))
	return t, nil
}

// setHeader sets the Header field every auth response has.
func setHeader(m proto.Message, h *pb.ResponseHeader) {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("header")
	m.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(h.ProtoReflect()))
}

func (a *authServer) AuthEnable(ctx context.Context, _ *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return change[*pb.AuthEnableResponse](a, ctx, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
}

func (a *authServer) AuthDisable(ctx context.Context, _ *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return change[*pb.AuthDisableResponse](a, ctx, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}})
}

// hashPassword hashes a password with the member's --bcrypt-cost, as etcd 3.5 does before
// proposing, so applying never runs bcrypt.
func (a *authServer) hashPassword(ctx context.Context, pw string) (string, error) {
	if err := a.s.acquireBcrypt(ctx); err != nil {
		return "", err
	}
	defer a.s.releaseBcrypt()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), a.s.cfg.BcryptCost)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h), nil
}

func (a *authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	r = proto.Clone(r).(*pb.AuthUserAddRequest)
	if r.Options == nil || !r.Options.NoPassword {
		h, err := a.hashPassword(ctx, r.Password)
		if err != nil {
			return nil, toGRPCError(err)
		}
		r.HashedPassword = h
	}
	r.Password = ""
	return change[*pb.AuthUserAddResponse](a, ctx, &pb.InternalRaftRequest{AuthUserAdd: r})
}

func (a *authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return change[*pb.AuthUserDeleteResponse](a, ctx, &pb.InternalRaftRequest{AuthUserDelete: r})
}

func (a *authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	h, err := a.hashPassword(ctx, r.Password)
	if err != nil {
		return nil, toGRPCError(err)
	}
	req := &pb.AuthUserChangePasswordRequest{Name: r.Name, HashedPassword: h}
	return change[*pb.AuthUserChangePasswordResponse](a, ctx, &pb.InternalRaftRequest{AuthUserChangePassword: req})
}

func (a *authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return change[*pb.AuthUserGrantRoleResponse](a, ctx, &pb.InternalRaftRequest{AuthUserGrantRole: r})
}

func (a *authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return change[*pb.AuthUserRevokeRoleResponse](a, ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: r})
}

func (a *authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return change[*pb.AuthRoleAddResponse](a, ctx, &pb.InternalRaftRequest{AuthRoleAdd: r})
}

func (a *authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return change[*pb.AuthRoleDeleteResponse](a, ctx, &pb.InternalRaftRequest{AuthRoleDelete: r})
}

func (a *authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return change[*pb.AuthRoleGrantPermissionResponse](a, ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: r})
}

func (a *authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return change[*pb.AuthRoleRevokePermissionResponse](a, ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: r})
}

// The read RPCs are answered from this member's auth state after a read index (the
// interceptor has already refused the root-only ones).

func (a *authServer) read(ctx context.Context) error {
	return toGRPCError(a.s.linearize(ctx))
}

func (a *authServer) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	resp := a.s.node.Auth().Status()
	resp.Header = a.s.fillHeader(nil)
	return resp, nil
}

// UserGet is allowed to root and to the user itself, as in etcd.
func (a *authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	as := a.s.node.Auth()
	info, _ := raftstore.AuthInfoFromContext(ctx)
	if err := as.CheckAdmin(info); err != nil && r.Name != info.User {
		return nil, toGRPCError(err)
	}
	resp, err := as.UserGet(r.Name)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = a.s.fillHeader(nil)
	return resp, nil
}

func (a *authServer) UserList(ctx context.Context, _ *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	resp := a.s.node.Auth().UserList()
	resp.Header = a.s.fillHeader(nil)
	return resp, nil
}

// RoleGet is allowed to root and to holders of the role, as in etcd.
func (a *authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	as := a.s.node.Auth()
	info, _ := raftstore.AuthInfoFromContext(ctx)
	if err := as.CheckAdmin(info); err != nil && !as.HasRole(info.User, r.Role) {
		return nil, toGRPCError(err)
	}
	resp, err := as.RoleGet(r.Role)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = a.s.fillHeader(nil)
	return resp, nil
}

func (a *authServer) RoleList(ctx context.Context, _ *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	resp := a.s.node.Auth().RoleList()
	resp.Header = a.s.fillHeader(nil)
	return resp, nil
}

package server

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/lease"
	"github.com/keeldb/keel/mvcc"
	"github.com/keeldb/keel/raftstore"
)

// errorMap lists every domain error a client may see, with etcd's status for it.
var errorMap = []struct {
	err  error
	grpc error
}{
	{apply.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
	{apply.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{apply.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
	{apply.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
	{apply.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
	{apply.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
	{apply.ErrInvalidSortOption, rpctypes.ErrGRPCInvalidSortOption},
	{apply.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{apply.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{mvcc.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{mvcc.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{mvcc.ErrClosed, rpctypes.ErrGRPCStopped}, // the member is stopping
	{lease.ErrNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{lease.ErrExists, rpctypes.ErrGRPCLeaseExist},
	{lease.ErrTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{lease.ErrNotPrimary, rpctypes.ErrGRPCNoLeader},
	{raftstore.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{raftstore.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{raftstore.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{raftstore.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{raftstore.ErrStopped, rpctypes.ErrGRPCStopped},
	{raftstore.ErrMemberNotFound, rpctypes.ErrGRPCMemberNotFound},
	{raftstore.ErrPeerURLExists, rpctypes.ErrGRPCPeerURLExist},
	{raftstore.ErrBadPeerURLs, rpctypes.ErrGRPCMemberBadURLs},
	{raftstore.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{raftstore.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},
	{raftstore.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
	{raftstore.ErrBadLeaderTarget, rpctypes.ErrGRPCBadLeaderTransferee},
	{raftstore.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{raftstore.ErrCorrupt, rpctypes.ErrGRPCCorrupt},
	{auth.ErrRootUserNotExist, rpctypes.ErrGRPCRootUserNotExist},
	{auth.ErrRootRoleNotExist, rpctypes.ErrGRPCRootRoleNotExist},
	{auth.ErrUserAlreadyExist, rpctypes.ErrGRPCUserAlreadyExist},
	{auth.ErrUserEmpty, rpctypes.ErrGRPCUserEmpty},
	{auth.ErrUserNotFound, rpctypes.ErrGRPCUserNotFound},
	{auth.ErrRoleAlreadyExist, rpctypes.ErrGRPCRoleAlreadyExist},
	{auth.ErrRoleNotFound, rpctypes.ErrGRPCRoleNotFound},
	{auth.ErrRoleEmpty, rpctypes.ErrGRPCRoleEmpty},
	{auth.ErrPermissionNotGiven, rpctypes.ErrGRPCPermissionNotGiven},
	{auth.ErrAuthFailed, rpctypes.ErrGRPCAuthFailed},
	{auth.ErrNoPasswordUser, rpctypes.ErrGRPCAuthFailed},
	{auth.ErrPermissionDenied, rpctypes.ErrGRPCPermissionDenied},
	{auth.ErrRoleNotGranted, rpctypes.ErrGRPCRoleNotGranted},
	{auth.ErrPermissionNotGranted, rpctypes.ErrGRPCPermissionNotGranted},
	{auth.ErrAuthNotEnabled, rpctypes.ErrGRPCAuthNotEnabled},
	{auth.ErrAuthOldRevision, rpctypes.ErrGRPCAuthOldRevision},
	{auth.ErrInvalidAuthToken, rpctypes.ErrGRPCInvalidAuthToken},
	{auth.ErrInvalidAuthMgmt, rpctypes.ErrGRPCInvalidAuthMgmt},
	{context.Canceled, rpctypes.ErrGRPCCanceled},
	{context.DeadlineExceeded, rpctypes.ErrGRPCDeadlineExceeded},
}

// toGRPCError maps a domain error to the gRPC status etcd would send. Errors that already
// are statuses pass through; anything unknown becomes Internal (never Unknown).
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range errorMap {
		if errors.Is(err, m.err) {
			return m.grpc
		}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

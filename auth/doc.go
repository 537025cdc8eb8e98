// Package auth is etcd's authentication and authorization: users with bcrypt password hashes,
// roles granting READ, WRITE or READWRITE over a key, a [key, range_end) range, a prefix or
// every key from a key on, the enabled flag, and the auth revision raised by every change.
//
// The state is replicated: every change is a raft entry (etcdserverpb.InternalRaftRequest
// with one Auth* field) applied by Store.Apply on every member in log order and recorded in
// the backend's auxiliary buckets "auth", "authUsers" and "authRoles" in etcd's encoding
// (authpb.User, authpb.Role), so it survives restarts and travels in snapshots. Passwords are
// hashed by the member that proposes the change; Apply never runs bcrypt.
//
// Checks (CheckRange, CheckPut, CheckDeleteRange, CheckTxn, CheckKeys, CheckAdmin) follow
// etcd's authStore, including ErrUserEmpty for a caller without a user and
// ErrAuthOldRevision for a caller checked at an older auth revision. A user's permissions
// over all its roles are merged into sorted interval sets (perm.go) when the state changes,
// so a check is a binary search.
//
// Tokens: SimpleTokens (etcd's "simple", in memory on each member, assigned when an
// Authenticate entry applies, valid for a TTL after last use) and JWTTokens (signed,
// carrying user, auth revision and expiry; any member with the key verifies them).
//
// Concurrency: Apply and Load take the write lock; checks and reads take the read lock.
// Apply is deterministic apart from the in-memory tokens.
//
// The buckets have etcd's names and encoding (Buckets), so snapshots carry auth between etcd
// and Keel both ways (raftstore's layout conversion).
//
// Not here: etcd 3.6's self-service password change, and metrics.
package auth

package failpoint

// Name identifies one failpoint. The constants below are every failpoint Keel has; names
// follow etcd's where a failpoint maps to one of etcd's (docs/RELIABILITY.md "Failpoints").
type Name string

// The failpoints, by where they sit.
const (
	// RaftBeforeAppend and RaftAfterAppend sit in raftstore's LogStore wrapper around StoreLogs,
	// before and after the entries are written and synced (leader and follower alike).
	RaftBeforeAppend Name = "raftBeforeAppend"
	RaftAfterAppend  Name = "raftAfterAppend"

	// BackendBeforeCommit and BackendAfterCommit sit in mvcc around the bolt commit of an
	// applied batch.
	BackendBeforeCommit Name = "backendBeforeCommit"
	BackendAfterCommit  Name = "backendAfterCommit"

	// RaftBeforeSaveSnap and RaftAfterSaveSnap sit in raftstore's FSM snapshot Persist, before
	// the backend is written into the raft snapshot sink and before the sink is closed.
	RaftBeforeSaveSnap Name = "raftBeforeSaveSnap"
	RaftAfterSaveSnap  Name = "raftAfterSaveSnap"

	// BeforeRestoreSwap and AfterRestoreSwap sit in raftstore's FSM Restore, once the
	// snapshot's backend is on disk and before it replaces the live one, and after it has.
	BeforeRestoreSwap Name = "beforeRestoreSwap"
	AfterRestoreSwap  Name = "afterRestoreSwap"

	// CompactBeforeChunk and CompactAfterChunk sit in mvcc's compactor around each chunk of
	// deleted revisions.
	CompactBeforeChunk Name = "compactBeforeChunk"
	CompactAfterChunk  Name = "compactAfterChunk"

	// DefragBeforeCopy and DefragBeforeRename sit in mvcc's defragmentation, before the live
	// data is copied into the new file and before the new file replaces the old.
	DefragBeforeCopy   Name = "defragBeforeCopy"
	DefragBeforeRename Name = "defragBeforeRename"

	// BeforeLeaseRevoke and AfterLeaseRevoke sit in raftstore around the apply of a lease
	// revoke; BeforeLeaseCheckpoint before the apply of a lease checkpoint.
	BeforeLeaseRevoke     Name = "beforeLeaseRevoke"
	AfterLeaseRevoke      Name = "afterLeaseRevoke"
	BeforeLeaseCheckpoint Name = "beforeLeaseCheckpoint"

	// BeforeForwardReply sits in raftstore's forwarding server, on the leader, after a
	// follower's forwarded request has been applied and before the reply is written.
	BeforeForwardReply Name = "beforeForwardReply"

	// BeforeSendWatchResponse sits in server's watch stream, before each response is sent.
	BeforeSendWatchResponse Name = "beforeSendWatchResponse"
)

// All returns every failpoint, in the order above (a new slice each call). Under the
// `failpoints` build tag each is registered with gofail at init.
func All() []Name {
	return []Name{
		RaftBeforeAppend, RaftAfterAppend,
		BackendBeforeCommit, BackendAfterCommit,
		RaftBeforeSaveSnap, RaftAfterSaveSnap,
		BeforeRestoreSwap, AfterRestoreSwap,
		CompactBeforeChunk, CompactAfterChunk,
		DefragBeforeCopy, DefragBeforeRename,
		BeforeLeaseRevoke, AfterLeaseRevoke, BeforeLeaseCheckpoint,
		BeforeForwardReply,
		BeforeSendWatchResponse,
	}
}

package failpoint

// Name identifies one failpoint. The constants below are every failpoint Keel has; names
// follow etcd's where a failpoint maps to one of etcd's (docs/RELIABILITY.md "Failpoints").
type Name string

// The failpoints, by where they sit.
const (
	// RaftBeforeSave and RaftAfterSave sit in raftstore's LogStore wrapper around StoreLogs
	// and StoreLog, before and after entries are written and synced to the raft log, on the
	// leader and on followers alike (etcd's, around its WAL save).
	RaftBeforeSave Name = "raftBeforeSave"
	RaftAfterSave  Name = "raftAfterSave"

	// BackendBeforeCommit and BackendAfterCommit sit in mvcc around the bolt commit of an
	// applied batch.
	BackendBeforeCommit Name = "backendBeforeCommit"
	BackendAfterCommit  Name = "backendAfterCommit"

	// RaftBeforeSaveSnap and RaftAfterSaveSnap sit in raftstore's FSM snapshot Persist, before
	// the backend is written into the raft snapshot sink and before the sink is closed.
	RaftBeforeSaveSnap Name = "raftBeforeSaveSnap"
	RaftAfterSaveSnap  Name = "raftAfterSaveSnap"

	// BeforeRestoreSwap and AfterRestoreSwap sit in mvcc's Restore (called by raftstore's FSM
	// Restore), once the snapshot's backend is written and synced beside the live one and
	// before it replaces it, and after it has.
	BeforeRestoreSwap Name = "beforeRestoreSwap"
	AfterRestoreSwap  Name = "afterRestoreSwap"

	// CompactBeforeCommitBatch and CompactAfterCommitBatch sit in mvcc's compactor around the
	// backend transaction of each batch of deleted revisions (etcd's names; the last batch
	// also records the compaction as finished).
	CompactBeforeCommitBatch Name = "compactBeforeCommitBatch"
	CompactAfterCommitBatch  Name = "compactAfterCommitBatch"

	// DefragBeforeCopy and DefragBeforeRename sit in mvcc's defragmentation, before the live
	// data is copied into the new file and before the new file replaces the old.
	// DefragAfterCatchUp sits after the online catch-up rounds (the copy holds the writes
	// made during the copy, but not the last ones), DefragAfterRename after the copy has
	// replaced the backend file and before the store swaps to it.
	DefragBeforeCopy   Name = "defragBeforeCopy"
	DefragBeforeRename Name = "defragBeforeRename"
	DefragAfterCatchUp Name = "defragAfterCatchUp"
	DefragAfterRename  Name = "defragAfterRename"

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
		RaftBeforeSave, RaftAfterSave,
		BackendBeforeCommit, BackendAfterCommit,
		RaftBeforeSaveSnap, RaftAfterSaveSnap,
		BeforeRestoreSwap, AfterRestoreSwap,
		CompactBeforeCommitBatch, CompactAfterCommitBatch,
		DefragBeforeCopy, DefragBeforeRename, DefragAfterCatchUp, DefragAfterRename,
		BeforeLeaseRevoke, AfterLeaseRevoke, BeforeLeaseCheckpoint,
		BeforeForwardReply,
		BeforeSendWatchResponse,
	}
}

package raftstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	keelpb "github.com/keeldb/keel/api/proto"
)

// Membership errors. The server maps them to etcd's rpctypes errors.
var (
	ErrMemberNotFound     = errors.New("raftstore: member not found")
	ErrPeerURLExists      = errors.New("raftstore: peer URLs already exist")
	ErrBadPeerURLs        = errors.New("raftstore: given member URLs are invalid")
	ErrMemberNotLearner   = errors.New("raftstore: can only promote a learner member")
	ErrLearnerNotReady    = errors.New("raftstore: learner is not in sync with the leader")
	ErrTooManyLearners    = errors.New("raftstore: too many learner members in cluster")
	ErrBadLeaderTarget    = errors.New("raftstore: bad leader transferee")
	ErrNotInCluster       = errors.New("raftstore: this member is not in the existing cluster")
	errMembershipInFlight = errors.New("raftstore: a configuration change is in progress")
)

func init() {
	for code, err := range map[string]error{
		"member_not_found":     ErrMemberNotFound,
		"peer_url_exists":      ErrPeerURLExists,
		"bad_peer_urls":        ErrBadPeerURLs,
		"member_not_learner":   ErrMemberNotLearner,
		"learner_not_ready":    ErrLearnerNotReady,
		"too_many_learners":    ErrTooManyLearners,
		"bad_leader_target":    ErrBadLeaderTarget,
		"membership_in_flight": errMembershipInFlight,
	} {
		errorCodes[code] = err
	}
}

// learnerReadyRatio is how far a learner's log must reach, as a fraction of the leader's
// commit index, before it may be promoted (etcd uses 90%).
const learnerReadyRatio = 0.9

// maxLearners is etcd's limit on learners in a cluster.
const maxLearners = 1

// AddMember adds a member with the given peer URLs, as a voter or a learner (a raft
// non-voter that can be promoted once caught up). It returns the new member.
func (n *Node) AddMember(ctx context.Context, peerURLs []string, learner bool) (MemberInfo, error) {
	req := &keelpb.ConfChangeRequest{Type: keelpb.ConfChangeRequest_ADD, PeerUrls: peerURLs, Learner: learner}
	id, err := n.confChange(ctx, req)
	if err != nil {
		return MemberInfo{}, err
	}
	return MemberInfo{ID: id, PeerURLs: peerURLs, IsLearner: learner}, nil
}

// RemoveMember removes a member (the leader too: it steps down once the change commits).
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	_, err := n.confChange(ctx, &keelpb.ConfChangeRequest{Type: keelpb.ConfChangeRequest_REMOVE, Id: id})
	return err
}

// UpdateMember changes a member's peer URLs.
func (n *Node) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	_, err := n.confChange(ctx, &keelpb.ConfChangeRequest{Type: keelpb.ConfChangeRequest_UPDATE, Id: id, PeerUrls: peerURLs})
	return err
}

// PromoteMember makes a learner a voter once its log has caught up with the leader's.
func (n *Node) PromoteMember(ctx context.Context, id uint64) error {
	_, err := n.confChange(ctx, &keelpb.ConfChangeRequest{Type: keelpb.ConfChangeRequest_PROMOTE, Id: id})
	return err
}

// TransferLeadership hands leadership to the voter target and returns once it leads.
func (n *Node) TransferLeadership(ctx context.Context, target uint64) error {
	return n.onLeader(ctx, func() error { return n.transferLocal(ctx, target) },
		func(pc keelpb.PeerClient) error {
			resp, err := pc.TransferLeadership(ctx, &keelpb.TransferLeadershipRequest{Target: target})
			if err != nil {
				return transportError(ctx, err)
			}
			if resp.Error != "" {
				return errorFromCode(resp.Error)
			}
			return nil
		})
}

func (n *Node) confChange(ctx context.Context, req *keelpb.ConfChangeRequest) (uint64, error) {
	var id uint64
	err := n.onLeader(ctx, func() (err error) {
		id, err = n.confChangeLocal(ctx, req)
		return err
	}, func(pc keelpb.PeerClient) error {
		resp, err := pc.ConfChange(ctx, req)
		if err != nil {
			return transportError(ctx, err)
		}
		if resp.Error != "" {
			return errorFromCode(resp.Error)
		}
		id = resp.Id
		return nil
	})
	if err == nil && !(req.Type == keelpb.ConfChangeRequest_REMOVE && req.Id == n.id) {
		// The change is committed; make it visible here before answering, as a write is. A
		// failure here (leadership moving) does not undo it, so it is not reported.
		_ = n.LinearizableBarrier(ctx)
	}
	return id, err
}

// onLeader runs local on the leader, or remote against the leader's Peer service, retrying
// while leadership moves.
func (n *Node) onLeader(ctx context.Context, local func() error, remote func(keelpb.PeerClient) error) error {
	for {
		if n.closed.Load() {
			return ErrStopped
		}
		if n.raft.State() == raft.Leader {
			err := local()
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			return err
		}
		addr, _, err := n.waitLeader(ctx)
		if err != nil {
			return err
		}
		if addr == n.trans.LocalAddr() {
			if err := n.waitChange(ctx, nil); err != nil {
				return err
			}
			continue
		}
		pc, err := n.peers.client(string(addr))
		if err != nil {
			return err
		}
		err = remote(pc)
		if errors.Is(err, ErrNotLeader) || errors.Is(err, errUnreachable) {
			if err := n.waitChange(ctx, nil); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// confChangeLocal applies a membership change on the leader.
func (n *Node) confChangeLocal(ctx context.Context, req *keelpb.ConfChangeRequest) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := n.wait(cf); err != nil {
		return 0, raftError(err)
	}
	conf := cf.Configuration()
	members, err := n.Members()
	if err != nil {
		return 0, err
	}
	find := func(id uint64) (raft.Server, bool) {
		for _, s := range conf.Servers {
			if parseServerID(s.ID) == id {
				return s, true
			}
		}
		return raft.Server{}, false
	}
	// urlsInUse reports whether another member than self already has one of urls.
	urlsInUse := func(urls []string, self uint64) bool {
		for _, m := range members {
			if m.ID == self {
				continue
			}
			for _, u := range urls {
				if slices.Contains(m.PeerURLs, u) {
					return true
				}
			}
		}
		return false
	}
	timeout := n.cfg.RequestTimeout
	var f raft.IndexFuture
	id := req.Id
	switch req.Type {
	case keelpb.ConfChangeRequest_ADD:
		addr, err := peerAddr(req.PeerUrls)
		if err != nil {
			return 0, err
		}
		if urlsInUse(req.PeerUrls, 0) {
			return 0, ErrPeerURLExists
		}
		if req.Learner {
			learners := 0
			for _, s := range conf.Servers {
				if s.Suffrage != raft.Voter {
					learners++
				}
			}
			if learners >= maxLearners {
				return 0, ErrTooManyLearners
			}
		}
		// A new ID for every add (etcd mixes in the time too), so a re-added peer URL does
		// not reuse the ID of a removed member.
		id = MemberID(req.PeerUrls, fmt.Sprintf("%x/%d", n.ClusterID(), time.Now().UnixNano()))
		if req.Learner {
			f = n.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), cf.Index(), timeout)
		} else {
			f = n.raft.AddVoter(serverID(id), raft.ServerAddress(addr), cf.Index(), timeout)
		}
	case keelpb.ConfChangeRequest_REMOVE:
		if _, ok := find(id); !ok {
			return 0, ErrMemberNotFound
		}
		f = n.raft.RemoveServer(serverID(id), cf.Index(), timeout)
	case keelpb.ConfChangeRequest_UPDATE:
		s, ok := find(id)
		if !ok {
			return 0, ErrMemberNotFound
		}
		addr, err := peerAddr(req.PeerUrls)
		if err != nil {
			return 0, err
		}
		if urlsInUse(req.PeerUrls, id) {
			return 0, ErrPeerURLExists
		}
		if s.Suffrage == raft.Voter {
			f = n.raft.AddVoter(s.ID, raft.ServerAddress(addr), cf.Index(), timeout)
		} else {
			f = n.raft.AddNonvoter(s.ID, raft.ServerAddress(addr), cf.Index(), timeout)
		}
	case keelpb.ConfChangeRequest_PROMOTE:
		s, ok := find(id)
		if !ok {
			return 0, ErrMemberNotFound
		}
		if s.Suffrage == raft.Voter {
			return 0, ErrMemberNotLearner
		}
		if err := n.learnerReady(ctx, s); err != nil {
			return 0, err
		}
		f = n.raft.AddVoter(s.ID, s.Address, cf.Index(), timeout)
	default:
		return 0, fmt.Errorf("raftstore: unknown configuration change %v", req.Type)
	}
	if err := n.wait(f); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, raftError(err)
		}
		if strings.Contains(err.Error(), "configuration changed since") {
			return 0, errMembershipInFlight
		}
		return 0, raftError(err)
	}
	n.log.Info("membership changed", "change", req.Type.String(), "member_id", fmt.Sprintf("%x", id),
		"peer_urls", req.PeerUrls, "learner", req.Learner)
	if req.Type == keelpb.ConfChangeRequest_ADD || req.Type == keelpb.ConfChangeRequest_UPDATE {
		// Record the peer URLs (with their scheme) until the member publishes its own
		// attributes; an update keeps the name and client URLs it published.
		attrs := &keelpb.MemberAttributes{Id: id, PeerUrls: req.PeerUrls}
		if old := n.attributes(id); old != nil {
			attrs.Name, attrs.ClientUrls = old.Name, old.ClientUrls
		}
		cmd := mustMarshal(&keelpb.Command{Cmd: &keelpb.Command_MemberAttributes{MemberAttributes: attrs}})
		if _, err := n.propose(ctx, cmd, nil); err != nil {
			n.log.Warn("recording peer URLs of a member failed", "member_id", fmt.Sprintf("%x", id), "error", err)
		}
	}
	return id, nil
}

// learnerReady asks the learner how far its log reaches.
func (n *Node) learnerReady(ctx context.Context, s raft.Server) error {
	pc, err := n.peers.client(string(s.Address))
	if err != nil {
		return ErrLearnerNotReady
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.ElectionTimeout)
	defer cancel()
	resp, err := pc.Progress(cctx, &keelpb.ProgressRequest{})
	if err != nil {
		return ErrLearnerNotReady
	}
	if float64(resp.LastIndex) < learnerReadyRatio*float64(n.raft.CommitIndex()) {
		return ErrLearnerNotReady
	}
	return nil
}

// transferLocal hands leadership to target from the leader.
func (n *Node) transferLocal(ctx context.Context, target uint64) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if target == n.id {
		return nil
	}
	cf := n.raft.GetConfiguration()
	if err := n.wait(cf); err != nil {
		return raftError(err)
	}
	for _, s := range cf.Configuration().Servers {
		if parseServerID(s.ID) != target {
			continue
		}
		if s.Suffrage != raft.Voter {
			return ErrBadLeaderTarget
		}
		if err := n.wait(n.raft.LeadershipTransferToServer(s.ID, s.Address)); err != nil {
			return raftError(err)
		}
		// Return once the target leads (or someone else does, if it lost an election).
		for n.Leader() == 0 || n.Leader() == n.id {
			if err := n.waitChange(ctx, nil); err != nil {
				return err
			}
		}
		return nil
	}
	return ErrBadLeaderTarget
}

func peerAddr(urls []string) (string, error) {
	if len(urls) == 0 {
		return "", ErrBadPeerURLs
	}
	var addr string
	for i, u := range urls {
		a, err := hostPort(u)
		if err != nil {
			return "", ErrBadPeerURLs
		}
		if i == 0 {
			addr = a
		}
	}
	return addr, nil
}

// Members answers a peer's (or a joining member's) membership request.
func (p *peerService) Members(context.Context, *keelpb.MembersRequest) (*keelpb.MembersResponse, error) {
	ms, err := p.n.Members()
	if err != nil {
		return nil, err
	}
	resp := &keelpb.MembersResponse{ClusterId: p.n.ClusterID()}
	for _, m := range ms {
		resp.Members = append(resp.Members, &keelpb.PeerMember{Id: m.ID, Name: m.Name, PeerUrls: m.PeerURLs,
			ClientUrls: m.ClientURLs, IsLearner: m.IsLearner})
	}
	return resp, nil
}

// ConfChange serves a forwarded membership change.
func (p *peerService) ConfChange(ctx context.Context, req *keelpb.ConfChangeRequest) (*keelpb.ConfChangeResponse, error) {
	id, err := p.n.confChangeLocal(ctx, req)
	if err != nil {
		return &keelpb.ConfChangeResponse{Error: errorCode(err)}, nil
	}
	return &keelpb.ConfChangeResponse{Id: id}, nil
}

// TransferLeadership serves a forwarded leadership transfer.
func (p *peerService) TransferLeadership(ctx context.Context, req *keelpb.TransferLeadershipRequest) (*keelpb.TransferLeadershipResponse, error) {
	if err := p.n.transferLocal(ctx, req.Target); err != nil {
		return &keelpb.TransferLeadershipResponse{Error: errorCode(err)}, nil
	}
	return &keelpb.TransferLeadershipResponse{}, nil
}

// Progress reports this member's log and applied indexes.
func (p *peerService) Progress(context.Context, *keelpb.ProgressRequest) (*keelpb.ProgressResponse, error) {
	return &keelpb.ProgressResponse{LastIndex: p.n.raft.LastIndex(), AppliedIndex: p.n.AppliedIndex()}, nil
}

// identityFile holds this member's ID and its cluster's ID. They are local facts, kept out of
// the replicated store (a snapshot from another member replaces that).
const identityFile = "member/identity"

func (n *Node) loadIdentity() (member, cluster uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, identityFile))
	if err != nil {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(string(b), "member %x\ncluster %x\n", &member, &cluster); err != nil {
		return 0, 0, false
	}
	return member, cluster, true
}

func (n *Node) saveIdentity(member, cluster uint64) error {
	return writeIdentity(n.cfg.DataDir, member, cluster)
}

// writeIdentity durably records a member's ID and its cluster's ID in dataDir.
func writeIdentity(dataDir string, member, cluster uint64) error {
	path := filepath.Join(dataDir, identityFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "member %x\ncluster %x\n", member, cluster); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// discoverIdentity asks the members of an existing cluster (cfg.InitialCluster) which ID they
// added this member's peer URLs under, retrying until one answers or the join timeout passes.
func (n *Node) discoverIdentity(self Member) (member, cluster uint64, err error) {
	deadline := time.Now().Add(n.cfg.JoinTimeout)
	var last error = ErrNotInCluster
	for {
		for _, m := range n.cfg.InitialCluster {
			if m.Name == n.cfg.Name || len(m.PeerURLs) == 0 {
				continue
			}
			addr, err := hostPort(m.PeerURLs[0])
			if err != nil {
				continue
			}
			id, cid, err := n.askIdentity(addr, self.PeerURLs)
			if err == nil {
				return id, cid, nil
			}
			last = err
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("raftstore: joining an existing cluster: %w", last)
		}
		select {
		case <-n.stop:
			return 0, 0, ErrStopped
		case <-time.After(n.cfg.HeartbeatInterval * 5):
		}
	}
}

func (n *Node) askIdentity(addr string, self []string) (uint64, uint64, error) {
	pc, err := n.peers.client(addr)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ElectionTimeout)
	defer cancel()
	resp, err := pc.Members(ctx, &keelpb.MembersRequest{})
	if err != nil {
		return 0, 0, fmt.Errorf("asking %s: %w", addr, err)
	}
	for _, m := range resp.Members {
		for _, u := range self {
			if slices.Contains(m.PeerUrls, u) {
				return m.Id, resp.ClusterId, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("%w (asked %s; add it with MemberAdd first)", ErrNotInCluster, addr)
}

// watchRemoval closes removed once this member, having been in the configuration, is no
// longer in it (etcd stops a removed member).
func (n *Node) watchRemoval() {
	t := time.NewTicker(n.cfg.HeartbeatInterval * 5)
	defer t.Stop()
	wasIn := false
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.raft.State() == raft.Shutdown && !n.closed.Load() {
			// raft shuts itself down once it applies its own removal (ShutdownOnRemove).
			n.log.Warn("this member has been removed from the cluster")
			close(n.removed)
			return
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		in := false
		for _, s := range f.Configuration().Servers {
			if parseServerID(s.ID) == n.id {
				in = true
			}
		}
		if in {
			wasIn = true
			continue
		}
		if wasIn {
			n.log.Warn("this member has been removed from the cluster")
			close(n.removed)
			return
		}
	}
}

// Removed is closed when this member has been removed from the cluster; the process should
// stop, as etcd's does.
func (n *Node) Removed() <-chan struct{} { return n.removed }

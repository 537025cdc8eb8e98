package raftstore

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
)

// MemberInfo describes one member of the cluster.
type MemberInfo struct {
	ID         uint64
	Name       string // empty until the member has started and published its attributes
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// Members returns the current membership: raft's configuration joined with the attributes
// every member published through the log.
func (n *Node) Members() ([]MemberInfo, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, raftError(err)
	}
	var out []MemberInfo
	for _, s := range f.Configuration().Servers {
		id := parseServerID(s.ID)
		m := MemberInfo{ID: id, IsLearner: s.Suffrage != raft.Voter, PeerURLs: n.cfg.peerURLsOf(string(s.Address))}
		if a := n.attributes(id); a != nil {
			m.Name, m.ClientURLs = a.Name, a.ClientUrls
			if len(a.PeerUrls) > 0 {
				m.PeerURLs = a.PeerUrls
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// peerURLsOf returns the peer URLs of the member at raft address addr (host:port) until it
// publishes its own: those --initial-cluster gives for that address, else the address with the
// scheme of this member's peer URLs (a cluster's peer URLs share one scheme: all http or all
// https).
func (c *Config) peerURLsOf(addr string) []string {
	scheme := "http"
	for _, m := range c.InitialCluster {
		for _, u := range m.PeerURLs {
			if a, err := hostPort(u); err == nil && a == addr {
				return slices.Clone(m.PeerURLs)
			}
		}
		if m.Name == c.Name && len(m.PeerURLs) > 0 {
			if p, err := url.Parse(m.PeerURLs[0]); err == nil && p.Scheme != "" {
				scheme = p.Scheme
			}
		}
	}
	return []string{scheme + "://" + addr}
}

// IsLearner reports whether this member is a non-voter.
func (n *Node) IsLearner() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if parseServerID(s.ID) == n.id {
			return s.Suffrage != raft.Voter
		}
	}
	return false
}

func (n *Node) attributes(id uint64) *keelpb.MemberAttributes {
	v := n.store.Aux(bucketMembers, beAppend(nil, id))
	if v == nil {
		return nil
	}
	var a keelpb.MemberAttributes
	if proto.Unmarshal(v, &a) != nil {
		return nil
	}
	return &a
}

// publishAttributes proposes this member's name and URLs until they are in the replicated
// state (etcd's "publish"), so every member's MemberList shows its client URLs.
func (n *Node) publishAttributes() {
	self, _ := n.cfg.self()
	want := &keelpb.MemberAttributes{Id: n.id, Name: n.cfg.Name, ClientUrls: n.cfg.ClientURLs, PeerUrls: self.PeerURLs}
	backoff := n.cfg.HeartbeatInterval
	for {
		if have := n.attributes(n.id); have != nil && proto.Equal(have, want) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		cmd := mustMarshal(&keelpb.Command{Cmd: &keelpb.Command_MemberAttributes{MemberAttributes: want}})
		_, err := n.propose(ctx, cmd, nil)
		cancel()
		if err == nil {
			n.log.Info("published member attributes", "name", want.Name, "client_urls", want.ClientUrls)
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

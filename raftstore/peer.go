package raftstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	keelpb "github.com/keeldb/keel/api/proto"
)

// PeerService returns the Peer gRPC service of this member, to be registered on the peer
// listener's gRPC server.
func (n *Node) PeerService() keelpb.PeerServer { return &peerService{n: n} }

type peerService struct {
	keelpb.UnimplementedPeerServer
	n *Node
}

// Propose applies a forwarded command if this member is the leader. Domain errors travel in
// the response so the follower can hand its client the same error.
func (p *peerService) Propose(ctx context.Context, req *keelpb.ProposeRequest) (*keelpb.ProposeResponse, error) {
	if !p.n.IsLeader() {
		return &keelpb.ProposeResponse{Error: errorCode(ErrNotLeader)}, nil
	}
	msg, index, err := p.n.proposeLocal(ctx, req.Command)
	return proposeResponse(msg, index, err), nil
}

// ReadIndex serves a follower's read index request.
func (p *peerService) ReadIndex(ctx context.Context, _ *keelpb.ReadIndexRequest) (*keelpb.ReadIndexResponse, error) {
	if !p.n.IsLeader() {
		return nil, errors.New(errorCode(ErrNotLeader))
	}
	idx, err := p.n.localReadIndex(ctx)
	if err != nil {
		return &keelpb.ReadIndexResponse{}, errors.New(errorCode(err))
	}
	return &keelpb.ReadIndexResponse{Index: idx, Term: p.n.raft.CurrentTerm()}, nil
}

// ConfirmTerm answers a leader's leadership check with this member's current term.
func (p *peerService) ConfirmTerm(_ context.Context, _ *keelpb.ConfirmTermRequest) (*keelpb.ConfirmTermResponse, error) {
	return &keelpb.ConfirmTermResponse{Term: p.n.raft.CurrentTerm()}, nil
}

// PeerClientFunc returns a Peer client for a member's peer address.
type PeerClientFunc func(addr string) (keelpb.PeerClient, error)

// peerClients caches one gRPC connection per peer address.
type peerClients struct {
	dial PeerDialer
	mu   sync.Mutex
	// guarded by mu
	conns   map[string]*grpc.ClientConn
	clients map[string]keelpb.PeerClient
	custom  PeerClientFunc
}

func newPeerClients(dial PeerDialer, custom PeerClientFunc) *peerClients {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &peerClients{dial: dial, custom: custom,
		conns: map[string]*grpc.ClientConn{}, clients: map[string]keelpb.PeerClient{}}
}

func (c *peerClients) client(addr string) (keelpb.PeerClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pc, ok := c.clients[addr]; ok {
		return pc, nil
	}
	if c.custom != nil {
		pc, err := c.custom(addr)
		if err != nil {
			return nil, err
		}
		c.clients[addr] = pc
		return pc, nil
	}
	dial := c.dial
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return dialWithPreamble(ctx, dial, a, preambleGRPC)
		}))
	if err != nil {
		return nil, err
	}
	c.conns[addr] = conn
	pc := keelpb.NewPeerClient(conn)
	c.clients[addr] = pc
	return pc, nil
}

// maintenance returns a client of etcd's Maintenance service on the member at addr (the peer
// gRPC server carries its HashKV for the corruption checks), sharing the Peer connection.
func (c *peerClients) maintenance(addr string) (pb.MaintenanceClient, error) {
	conn, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	return pb.NewMaintenanceClient(conn), nil
}

// conn returns the gRPC connection to the member at addr that its Peer client uses.
func (c *peerClients) conn(addr string) (*grpc.ClientConn, error) {
	if _, err := c.client(addr); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, ok := c.conns[addr]
	if !ok {
		return nil, errors.New("raftstore: hash checks need the gRPC peer transport")
	}
	return conn, nil
}

func (c *peerClients) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns, c.clients = map[string]*grpc.ClientConn{}, map[string]keelpb.PeerClient{}
}

// readIndex asks the leader at addr for a read index.
func (c *peerClients) readIndex(ctx context.Context, addr string) (uint64, error) {
	pc, err := c.client(addr)
	if err != nil {
		return 0, err
	}
	resp, err := pc.ReadIndex(ctx, &keelpb.ReadIndexRequest{})
	if err != nil {
		return 0, transportError(ctx, err)
	}
	return resp.Index, nil
}

// transportError turns a failed peer call into a raftstore error. A forwarded write whose
// call failed has an unknown outcome.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	if notSent(err) {
		return errUnreachable
	}
	if s, ok := statusMessage(err); ok {
		if e, known := errorCodes[s]; known {
			return e
		}
	}
	return ErrLeaderChanged
}

// errUnreachable means a call to the leader failed before it was sent (the connection could
// not be made): nothing happened there, so the caller may wait for a leader and retry.
var errUnreachable = errors.New("raftstore: leader unreachable")

// notSent reports whether a failed gRPC call certainly never reached the server: the
// connection to it could not be established.
func notSent(err error) bool {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable {
		return false
	}
	msg := s.Message()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "error while dialing") ||
		strings.Contains(msg, "no route to host")
}

// LeaseRenew renews a lease for a follower's keepalive stream.
func (p *peerService) LeaseRenew(ctx context.Context, req *keelpb.LeaseRenewRequest) (*keelpb.LeaseRenewResponse, error) {
	if !p.n.IsLeader() {
		return &keelpb.LeaseRenewResponse{Error: errorCode(ErrNotLeader)}, nil
	}
	ttl, err := p.n.renewLocal(ctx, req.Id)
	if err != nil {
		return &keelpb.LeaseRenewResponse{Error: errorCode(err)}, nil
	}
	return &keelpb.LeaseRenewResponse{Ttl: ttl}, nil
}

// LeaseTimeToLive reads a lease's remaining time for a follower.
func (p *peerService) LeaseTimeToLive(ctx context.Context, req *keelpb.LeaseTimeToLiveRequest) (*keelpb.LeaseTimeToLiveResponse, error) {
	if !p.n.IsLeader() {
		return &keelpb.LeaseTimeToLiveResponse{Error: errorCode(ErrNotLeader)}, nil
	}
	remaining, granted, err := p.n.LeaseTimeToLive(ctx, req.Id)
	if err != nil {
		return &keelpb.LeaseTimeToLiveResponse{Error: errorCode(err)}, nil
	}
	return &keelpb.LeaseTimeToLiveResponse{Ttl: remaining, GrantedTtl: granted}, nil
}

func (c *peerClients) leaseRenew(ctx context.Context, addr string, id int64) (int64, error) {
	pc, err := c.client(addr)
	if err != nil {
		return 0, err
	}
	resp, err := pc.LeaseRenew(ctx, &keelpb.LeaseRenewRequest{Id: id})
	if err != nil {
		return 0, transportError(ctx, err)
	}
	if resp.Error != "" {
		return 0, errorFromCode(resp.Error)
	}
	return resp.Ttl, nil
}

func (c *peerClients) leaseTimeToLive(ctx context.Context, addr string, id int64) (int64, int64, error) {
	pc, err := c.client(addr)
	if err != nil {
		return 0, 0, err
	}
	resp, err := pc.LeaseTimeToLive(ctx, &keelpb.LeaseTimeToLiveRequest{Id: id})
	if err != nil {
		return 0, 0, transportError(ctx, err)
	}
	if resp.Error != "" {
		return 0, 0, errorFromCode(resp.Error)
	}
	return resp.Ttl, resp.GrantedTtl, nil
}

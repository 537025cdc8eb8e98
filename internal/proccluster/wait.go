package proccluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	// pollInterval is the pause between two polls of a wait helper.
	pollInterval = 50 * time.Millisecond
	// statusCallTimeout bounds one Status RPC, so a hung member cannot stall a poll.
	statusCallTimeout = 2 * time.Second
)

// errPermanent marks poll failures that waiting cannot fix (a member crashed).
var errPermanent = errors.New("permanent")

// Status calls Maintenance.Status on member i over a fresh gRPC connection, so that a member
// restarted on the same port is reached without waiting out a reconnect backoff. One call is
// bounded by 2 s as well as by ctx. It also records the member ID for MemberID.
func (c *Cluster) Status(ctx context.Context, i int) (*pb.StatusResponse, error) {
	m := c.members[i]
	_, hostPort, _ := strings.Cut(m.clientURL, "://")
	creds := insecure.NewCredentials()
	if c.clientTLS != nil {
		creds = credentials.NewTLS(c.clientTLS.Clone())
	}
	conn, err := grpc.NewClient("passthrough:///"+hostPort, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, statusCallTimeout)
	defer cancel()
	resp, err := pb.NewMaintenanceClient(conn).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: status: %w", m.name, err)
	}
	if resp.GetHeader().GetMemberId() != 0 {
		m.setID(resp.GetHeader().GetMemberId())
	}
	return resp, nil
}

// MemberID returns member i's ID as reported in its Status header, or 0 if it has not answered
// a Status call yet (Start guarantees it has, for every member).
func (c *Cluster) MemberID(i int) uint64 {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// statuses queries every member that should be up and is not paused. It returns the answers
// by member index (nil where the call failed), the joined call errors, and a crash error if a
// member exited unexpectedly.
func (c *Cluster) statuses(ctx context.Context) (resps []*pb.StatusResponse, asked int, callErr, crashErr error) {
	resps = make([]*pb.StatusResponse, len(c.members))
	var callErrs, crashErrs []error
	for i, m := range c.members {
		query, crashed := m.state()
		if crashed != nil {
			crashErrs = append(crashErrs, crashed)
		}
		if !query {
			continue
		}
		asked++
		resp, err := c.Status(ctx, i)
		if err != nil {
			callErrs = append(callErrs, err)
			continue
		}
		resps[i] = resp
	}
	return resps, asked, errors.Join(callErrs...), errors.Join(crashErrs...)
}

// leaderOf returns the index of the only answering member whose Status.Leader equals its own
// header member ID.
func leaderOf(resps []*pb.StatusResponse) (int, error) {
	leader := -1
	for i, r := range resps {
		if r == nil || r.GetLeader() == 0 || r.GetLeader() != r.GetHeader().GetMemberId() {
			continue
		}
		if leader >= 0 {
			return -1, fmt.Errorf("both m%d and m%d report themselves leader", leader, i)
		}
		leader = i
	}
	if leader < 0 {
		return -1, errors.New("no answering member reports itself leader")
	}
	return leader, nil
}

// Leader returns the index of the member whose Status.Leader equals its own member ID, asking
// every member that is running and not paused. It fails if none or more than one claims to be
// leader; it does not check that the others agree (WaitLeader does).
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	resps, _, callErr, crashErr := c.statuses(ctx)
	if crashErr != nil {
		return -1, crashErr
	}
	leader, err := leaderOf(resps)
	if err != nil {
		return -1, errors.Join(err, callErr)
	}
	return leader, nil
}

// WaitLeader polls until exactly one running, unpaused member claims leadership and every such
// member that answers agrees on it; members that do not answer (e.g. still starting) are
// tolerated. It returns the leader's index, or ctx's error joined with the last poll error. It
// gives up at once if a member crashed.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	leader := -1
	err := c.poll(ctx, "waiting for a leader", func(ctx context.Context) error {
		resps, _, callErr, crashErr := c.statuses(ctx)
		if crashErr != nil {
			return fmt.Errorf("%w: %w", errPermanent, crashErr)
		}
		l, err := leaderOf(resps)
		if err != nil {
			return errors.Join(err, callErr)
		}
		if err := agree(resps, resps[l].GetLeader()); err != nil {
			return err
		}
		leader = l
		return nil
	})
	return leader, err
}

// WaitHealthy polls until every member that is running and not paused answers Status and all
// of them report the same leader, which is one of them. Killed, stopped and paused members are
// left out, so after Kill(i) it waits for the survivors. It returns ctx's error joined with the
// last poll error, and gives up at once if a member crashed.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	return c.poll(ctx, "waiting for a healthy cluster", func(ctx context.Context) error {
		resps, asked, callErr, crashErr := c.statuses(ctx)
		if crashErr != nil {
			return fmt.Errorf("%w: %w", errPermanent, crashErr)
		}
		if asked == 0 {
			return fmt.Errorf("%w: no member is running", errPermanent)
		}
		if callErr != nil {
			return callErr
		}
		l, err := leaderOf(resps)
		if err != nil {
			return err
		}
		return agree(resps, resps[l].GetLeader())
	})
}

// WaitMember polls until member i answers Status (with or without a leader).
func (c *Cluster) WaitMember(ctx context.Context, i int) error {
	return c.poll(ctx, "waiting for "+c.members[i].name, func(ctx context.Context) error {
		if _, crashed := c.members[i].state(); crashed != nil {
			return fmt.Errorf("%w: %w", errPermanent, crashed)
		}
		_, err := c.Status(ctx, i)
		return err
	})
}

// agree checks that every answer names leaderID as leader.
func agree(resps []*pb.StatusResponse, leaderID uint64) error {
	var errs []error
	for i, r := range resps {
		if r != nil && r.GetLeader() != leaderID {
			errs = append(errs, fmt.Errorf("m%d reports leader %x, want %x", i, r.GetLeader(), leaderID))
		}
	}
	return errors.Join(errs...)
}

// poll calls f every pollInterval until it returns nil, it returns an errPermanent error, or
// ctx is done. The error names what was awaited and carries the last failure.
func (c *Cluster) poll(ctx context.Context, what string, f func(context.Context) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) {
			return fmt.Errorf("proccluster: %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("proccluster: %s: %w; last error: %w", what, ctx.Err(), err)
		case <-ticker.C:
		}
	}
}

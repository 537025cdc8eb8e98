package coord_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const electionPrefix = "/coord/election"

// observer follows an election with concurrency.Election.Observe and records the sequence of
// distinct leader values it sees. Use it from the test goroutine only.
type observer struct {
	t    *testing.T
	e    *concurrency.Election
	ch   <-chan *clientv3.GetResponse
	seen []string
}

func newObserver(t *testing.T, ctx context.Context, cli *clientv3.Client) *observer {
	t.Helper()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(5), concurrency.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	o := &observer{t: t, e: concurrency.NewElection(s, electionPrefix)}
	o.ch = o.e.Observe(ctx)
	return o
}

// waitFor reads observations until the leader value is want. Observe's channel closes when its
// watch fails for good; like a user, the observer then observes again.
func (o *observer) waitFor(ctx context.Context, want string) {
	o.t.Helper()
	for {
		select {
		case <-ctx.Done():
			o.t.Fatalf("observer: leader %q not seen: %v (seen %q)", want, ctx.Err(), o.seen)
		case resp, ok := <-o.ch:
			if !ok {
				o.t.Logf("observer: Observe channel closed; observing again")
				o.ch = o.e.Observe(ctx)
				continue
			}
			v := string(resp.Kvs[0].Value)
			if len(o.seen) == 0 || o.seen[len(o.seen)-1] != v {
				o.seen = append(o.seen, v)
			}
			if v == want {
				return
			}
		}
	}
}

// candidate is one campaigner with its own client and session.
type candidate struct {
	name    string
	session *concurrency.Session
	e       *concurrency.Election
}

func newCandidate(t *testing.T, ctx context.Context, cli *clientv3.Client, name string) *candidate {
	t.Helper()
	var s *concurrency.Session
	eventually(t, ctx, name+": new session", func(context.Context) (err error) {
		s, err = concurrency.NewSession(cli, concurrency.WithTTL(5), concurrency.WithContext(ctx))
		return err
	})
	t.Cleanup(func() { _ = s.Close() })
	return &candidate{name: name, session: s, e: concurrency.NewElection(s, electionPrefix)}
}

// campaign starts a Campaign in the background; the channel yields its result.
func (c *candidate) campaign(ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- c.e.Campaign(ctx, c.name) }()
	return errc
}

// resign resigns, retrying after an RPC error; Resign forgets the leadership even when its Txn
// fails, so a retry resumes the election from the remembered key and revision.
func (c *candidate) resign(t *testing.T, ctx context.Context) {
	t.Helper()
	key, rev := c.e.Key(), c.e.Rev()
	eventually(t, ctx, c.name+": resign", func(ctx context.Context) error {
		err := c.e.Resign(ctx)
		if err != nil {
			// ResumeElection takes the prefix with its trailing slash.
			c.e = concurrency.ResumeElection(c.session, electionPrefix+"/", key, rev)
		}
		return err
	})
}

// waitResult waits for a background Campaign to return.
func waitResult(t *testing.T, ctx context.Context, name string, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s: campaign: %v", name, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s: campaign did not win: %v", name, ctx.Err())
	}
}

// candidates waits until n campaign keys exist under the election prefix.
func candidates(t *testing.T, ctx context.Context, cli *clientv3.Client, n int64) {
	t.Helper()
	eventually(t, ctx, fmt.Sprintf("%d candidates", n), func(ctx context.Context) error {
		get, err := cli.Get(ctx, electionPrefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if get.Count != n {
			return fmt.Errorf("%d candidates", get.Count)
		}
		return nil
	})
}

// leaderIs checks Election.Leader's answer, retrying RPC errors.
func leaderIs(t *testing.T, ctx context.Context, e *concurrency.Election, want string) {
	t.Helper()
	var got string
	eventually(t, ctx, "election leader", func(ctx context.Context) error {
		resp, err := e.Leader(ctx)
		if err != nil {
			return err
		}
		got = string(resp.Kvs[0].Value)
		return nil
	})
	if got != want {
		t.Fatalf("election leader %q, want %q", got, want)
	}
}

// Campaign, Resign and Observe hand leadership over in order, and keep working after the Keel
// leader is killed with SIGKILL.
func TestElectionSurvivesLeaderKill(t *testing.T) {
	c := startKeel(t)
	ctx := timeout(t, 60*time.Second)
	probe := c.Client(t)
	obs := newObserver(t, ctx, c.Client(t))

	a := newCandidate(t, ctx, c.Client(t), "A")
	waitResult(t, ctx, "A", a.campaign(ctx))
	obs.waitFor(ctx, "A")

	b := newCandidate(t, ctx, c.Client(t), "B")
	bWon := b.campaign(ctx)
	candidates(t, ctx, probe, 2)
	select {
	case err := <-bWon:
		t.Fatalf("B's campaign returned while A leads: %v", err)
	default:
	}
	leaderIs(t, ctx, obs.e, "A")
	a.resign(t, ctx)
	waitResult(t, ctx, "B", bWon)
	obs.waitFor(ctx, "B")
	leaderIs(t, ctx, obs.e, "B")

	killed, leader := killLeader(t, ctx, c)
	t.Logf("killed Keel leader m%d, new leader m%d", killed, leader)

	// B's session lives on through the other members; a new round hands leadership to C.
	leaderIs(t, ctx, obs.e, "B")
	cand := newCandidate(t, ctx, c.Client(t), "C")
	cWon := cand.campaign(ctx)
	candidates(t, ctx, probe, 2)
	b.resign(t, ctx)
	waitResult(t, ctx, "C", cWon)
	obs.waitFor(ctx, "C")
	leaderIs(t, ctx, obs.e, "C")
	cand.resign(t, ctx)
	candidates(t, ctx, probe, 0)
	if _, err := obs.e.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("leader after everyone resigned: %v, want %v", err, concurrency.ErrElectionNoLeader)
	}

	if want := []string{"A", "B", "C"}; !slices.Equal(obs.seen, want) {
		t.Errorf("observed leaders %q, want %q", obs.seen, want)
	}
}

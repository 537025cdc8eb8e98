package containers

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// clientsPerMember is how many workload clients talk to each member.
const clientsPerMember = 2

// TestMinorityPartition cuts one follower off the peer network while clients keep using
// every member: the majority must keep accepting writes, the isolated member must serve no
// stale linearizable read, and after healing it must catch up. The watcher starts through
// the isolated member and must fail over to the majority without losing an event.
func TestMinorityPartition(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(c.names...)
	victim := c.names[0]
	if victim == leader {
		victim = c.names[1]
	}
	wt := startWatcher(t, c, victim)
	w := startWorkload(t, c.endpoints(c.names...), clientsPerMember*len(c.names))
	w.waitAcked(t, 30, 30*time.Second, "before the partition")
	c.isolate(victim)
	eventually(t, 30*time.Second, victim+" loses its leader", func(ctx context.Context) error {
		if l, err := c.leader(ctx, victim); err == nil {
			return fmt.Errorf("%s still follows %s", victim, l)
		}
		return nil
	})
	wt.waitFailover(t, victim)
	w.waitAcked(t, 60, 30*time.Second, "majority during the partition")
	c.heal(victim)
	c.waitLeader(c.names...)
	w.waitAcked(t, 30, 30*time.Second, "after healing")
	fmt.Println("SCENARIO", verify(t, c, w, wt, "minority-partition"))
}

// TestLeaderIsolated cuts the leader off the majority: the majority must elect a new leader
// and go on; the old leader must step down without acknowledging writes or stale reads; after
// healing it must rejoin as a follower and converge. The watcher starts through the old
// leader and must fail over to the majority without losing an event.
func TestLeaderIsolated(t *testing.T) {
	c := startCluster(t, 3)
	old := c.waitLeader(c.names...)
	var rest []string
	for _, n := range c.names {
		if n != old {
			rest = append(rest, n)
		}
	}
	wt := startWatcher(t, c, old)
	w := startWorkload(t, c.endpoints(c.names...), clientsPerMember*len(c.names))
	w.waitAcked(t, 30, 30*time.Second, "before the partition")
	c.isolate(old)
	eventually(t, 30*time.Second, "old leader steps down", func(ctx context.Context) error {
		if l, err := c.leader(ctx, old); err == nil && l == old {
			return fmt.Errorf("%s still believes it leads", old)
		}
		return nil
	})
	next := c.waitLeader(rest...)
	t.Logf("leader moved from %s to %s", old, next)
	wt.waitFailover(t, old)
	w.waitAcked(t, 60, 30*time.Second, "majority during the partition")
	c.heal(old)
	c.waitLeader(c.names...)
	w.waitAcked(t, 30, 30*time.Second, "after healing")
	fmt.Println("SCENARIO", verify(t, c, w, wt, "leader-isolated"))
}

// TestFiveMembersLoseTwo kills the leader and one follower of a 5-member cluster: the other
// three must elect a leader and go on; the two, restarted, must catch up and converge. The
// watcher starts through the leader and must fail over to a survivor without losing an event.
func TestFiveMembersLoseTwo(t *testing.T) {
	c := startCluster(t, 5)
	leader := c.waitLeader(c.names...)
	victims := []string{leader}
	var rest []string
	for _, n := range c.names {
		if n == leader {
			continue
		}
		if len(victims) < 2 {
			victims = append(victims, n)
			continue
		}
		rest = append(rest, n)
	}
	wt := startWatcher(t, c, leader)
	w := startWorkload(t, c.endpoints(c.names...), clientsPerMember*len(c.names))
	w.waitAcked(t, 30, 30*time.Second, "before the failures")
	for _, v := range victims {
		c.kill(v)
	}
	c.waitLeader(rest...)
	wt.waitFailover(t, victims...)
	w.waitAcked(t, 60, 30*time.Second, "three of five members")
	for _, v := range victims {
		c.start(v)
	}
	c.waitHealthy(victims...)
	c.waitLeader(c.names...)
	w.waitAcked(t, 30, 30*time.Second, "after the restarts")
	fmt.Println("SCENARIO", verify(t, c, w, wt, "five-lose-two"))
}

// Package quota_test checks the backend quota and its NOSPACE alarm against a 3-member keeld
// cluster run as real processes with a small --quota-backend-bytes: writes fill the backend
// until they are refused with etcd's "database space exceeded", the alarm is listed, reads and
// deletes go on, and compaction, defragmentation of every member and disarming the alarm let
// writes go on again — through clientv3 and through Debian's etcdctl.
package quota_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

const (
	// quotaBytes is the clusters' --quota-backend-bytes.
	quotaBytes = 16 << 20
	// valueBytes is the size of each value written to fill the backend.
	valueBytes = 100 << 10
	// opTimeout bounds one RPC.
	opTimeout = 10 * time.Second
)

func startKeel(t *testing.T) *proccluster.Cluster {
	t.Helper()
	return proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3,
		ExtraArgs: []string{"--quota-backend-bytes", fmt.Sprint(quotaBytes)}})
}

// isNoSpace reports whether err is etcd's NOSPACE refusal as clientv3 returns it.
func isNoSpace(err error) bool {
	return err != nil && (errors.Is(err, rpctypes.ErrNoSpace) || strings.Contains(err.Error(), rpctypes.ErrNoSpace.Error()))
}

// fill puts fill/<n> keys with valueBytes values until a put is refused with NOSPACE, and
// returns the keys written. It fails the test on any other error, or if the quota is never
// reached (the backend would then grow far past it).
func fill(t *testing.T, ctx context.Context, cli *clientv3.Client) []string {
	t.Helper()
	val := strings.Repeat("x", valueBytes)
	var keys []string
	for i := 0; ; i++ {
		if i > 4*quotaBytes/valueBytes {
			t.Fatalf("wrote %d values of %d bytes without reaching the %d-byte quota", i, valueBytes, quotaBytes)
		}
		key := fmt.Sprintf("fill/%06d", i)
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := cli.Put(cctx, key, val)
		cancel()
		if isNoSpace(err) {
			t.Logf("put %d refused: %v", i, err)
			return keys
		}
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		keys = append(keys, key)
	}
}

// dbSizes returns every member's Status dbSize.
func dbSizes(ctx context.Context, c *proccluster.Cluster) ([]int64, error) {
	var sizes []int64
	for i := range c.Size() {
		st, err := c.Status(ctx, i)
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, st.DbSize)
	}
	return sizes, nil
}

// eventually polls f, each attempt bounded by opTimeout, until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	poll.UntilEach(t, ctx, what, opTimeout, f)
}

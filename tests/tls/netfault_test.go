package tls_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/proccluster"
)

// Peer TLS works through the network fault proxies (proccluster PeerProxies, keeld
// --peer-dial-proxy): the proxies relay the members' TLS sessions unchanged, a leader
// blackholed there is replaced, and after Heal it rejoins over TLS and serves linearizable
// reads again.
func TestTLSThroughPeerProxies(t *testing.T) {
	ca := newCA(t, "keel-test-ca")
	cert, key := ca.issue(t, "member", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	c := proccluster.Start(t, proccluster.Config{
		Binary:      proccluster.BuildKeeld(t),
		TLS:         &proccluster.TLSFiles{CAFile: ca.File, CertFile: cert, KeyFile: key},
		PeerProxies: true,
	})
	old, err := c.WaitLeader(opCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(t).Put(opCtx(t), "tls/proxied", "before"); err != nil {
		t.Fatal(err)
	}

	c.PeerProxy(old).Blackhole(netfault.Both)
	var rest []int
	for i := range c.Size() {
		if i != old {
			rest = append(rest, i)
		}
	}
	w := c.Client(t, rest...)
	eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		defer cancel()
		_, err := w.Put(ctx, "tls/proxied", "during")
		return err
	})
	eventually(t, 30*time.Second, func() error {
		st, err := c.Status(opCtx(t), rest[0])
		if err != nil {
			return err
		}
		if st.Leader == 0 || st.Leader == c.MemberID(old) {
			return fmt.Errorf("m%d reports leader %x, want a new one", rest[0], st.Leader)
		}
		return nil
	})

	c.HealPeers()
	r := c.Client(t, old)
	eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		defer cancel()
		get, err := r.Get(ctx, "tls/proxied")
		if err != nil {
			return err
		}
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "during" {
			return fmt.Errorf("linearizable read through m%d: %v", old, get.Kvs)
		}
		return nil
	})
	if err := c.WaitHealthy(opCtx(t)); err != nil {
		t.Fatal(err)
	}
	for i := range c.Size() {
		if st := c.PeerProxy(i).Stats(); st.Tx.ForwardedBytes == 0 || st.Rx.ForwardedBytes == 0 {
			t.Errorf("m%d's proxy stats %+v: want TLS traffic both ways", i, st)
		}
	}
}

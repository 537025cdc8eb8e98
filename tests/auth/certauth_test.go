package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// TestAuthClientCertCN runs Keel with mutual TLS and --client-cert-auth: with auth enabled, a
// request without a token runs as the user its client certificate's CN names (etcd's
// AuthInfoFromTLS), a CN that names no user is refused, and a token still wins over the CN.
func TestAuthClientCertCN(t *testing.T) {
	keeld := proccluster.BuildKeeld(t)
	ctx := poll.Context(t, 2*time.Minute)
	ca := newTestCA(t)
	erinCert, erinKey := ca.issue(t, "erin")
	frankCert, frankKey := ca.issue(t, "frank")
	c := proccluster.Start(t, proccluster.Config{Binary: keeld,
		TLS: &proccluster.TLSFiles{CAFile: ca.file, CertFile: erinCert, KeyFile: erinKey}})
	erin := c.Client(t) // presents erin's certificate
	for _, step := range []func() error{
		func() error { _, err := erin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := erin.UserGrantRole(ctx, "root", "root"); return err },
		func() error {
			_, err := erin.UserAddWithOptions(ctx, "erin", "", &clientv3.UserAddOptions{NoPassword: true})
			return err
		},
		func() error { _, err := erin.RoleAdd(ctx, "e"); return err },
		func() error {
			_, err := erin.RoleGrantPermission(ctx, "e", "/e/", clientv3.GetPrefixRangeEnd("/e/"), clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error { _, err := erin.UserGrantRole(ctx, "erin", "e"); return err },
		func() error { _, err := erin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}
	if _, err := erin.Put(ctx, "/e/k", "v"); err != nil {
		t.Fatalf("erin (by CN) puts in her prefix: %v", err)
	}
	if _, err := erin.Put(ctx, "/f", "v"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("erin puts outside her prefix: got %v, want ErrPermissionDenied", err)
	}
	if _, err := erin.UserList(ctx); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("erin lists users: got %v, want ErrPermissionDenied", err)
	}

	frank := tlsClient(t, c, ca, frankCert, frankKey, "", "")
	if _, err := frank.Get(ctx, "/e/k"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("frank (no such user) reads: got %v, want ErrPermissionDenied", err)
	}
	root := tlsClient(t, c, ca, frankCert, frankKey, "root", "rootpw")
	if _, err := root.Put(ctx, "/f", "v"); err != nil {
		t.Fatalf("root by password over frank's certificate: %v", err)
	}
	if _, err := root.AuthDisable(ctx); err != nil {
		t.Fatal(err)
	}
}

type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string
	serial int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auth-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(t.TempDir(), "ca.crt"), serial: 1}
	writePEMFile(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue signs a server-and-client certificate for 127.0.0.1 with common name cn.
func (ca *testCA) issue(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	writePEMFile(t, certFile, "CERTIFICATE", der)
	writePEMFile(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEMFile(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsClient connects to every member presenting certFile, with a username if user is set.
func tlsClient(t *testing.T, c *proccluster.Cluster, ca *testCA, certFile, keyFile, user, password string) *clientv3.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
		TLS:      &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// selfSigned returns the PEM certificate and key of a self-signed certificate for cn.
func selfSigned(t *testing.T, cn string) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestBuildCertificates(t *testing.T) {
	secret := func(name, cn string) *api.Secret {
		crt, key := selfSigned(t, cn)
		return &api.Secret{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Type: api.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
	}
	a := ing("a", 2, "x")
	a.Spec.TLS = []api.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop"},
		{Hosts: []string{"*.example.com"}, SecretName: "wild"}, {Hosts: []string{"gone.io"}, SecretName: "missing"}}
	b := ing("b", 1, "x")
	b.Spec.TLS = []api.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "other"}}
	bad := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "missing", Namespace: "other"}}
	c := BuildCertificates([]*api.Ingress{b, a}, []*api.Secret{secret("shop", "shop"), secret("wild", "wild"), secret("other", "other"), bad})
	cn := func(host string) string {
		cert := c.Get(host)
		if cert == nil {
			return ""
		}
		x, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x.Subject.CommonName
	}
	for host, want := range map[string]string{"shop.example.com": "shop", "SHOP.example.com.": "shop",
		"api.example.com": "wild", "a.b.example.com": "", "gone.io": "", "": ""} {
		if got := cn(host); got != want {
			t.Errorf("certificate of %q: %q, want %q", host, got, want)
		}
	}
}

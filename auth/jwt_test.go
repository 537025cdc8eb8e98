package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJWTTokens(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	ecPubDER, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPubDER, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv := writePEM(t, "rsa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))
	rsaPub := writePEM(t, "rsa.pub", "PUBLIC KEY", rsaPubDER)
	ecPriv := writePEM(t, "ec.key", "EC PRIVATE KEY", ecDER)
	ecPub := writePEM(t, "ec.pub", "PUBLIC KEY", ecPubDER)

	for _, tc := range []struct{ name, opts, verifyOpts string }{
		{"RS256", "priv-key=" + rsaPriv + ",pub-key=" + rsaPub + ",sign-method=RS256,ttl=1m", "pub-key=" + rsaPub + ",sign-method=RS256"},
		{"ES256", "priv-key=" + ecPriv + ",pub-key=" + ecPub + ",sign-method=ES256,ttl=1m", "pub-key=" + ecPub + ",sign-method=ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			clock := func() time.Time { return now }
			tk, err := ParseJWTOptions(tc.opts, clock)
			if err != nil {
				t.Fatal(err)
			}
			token, err := tk.Assign("alice", 7, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			info, ok := tk.Info(token, 99)
			if !ok || info != (Info{User: "alice", Revision: 7}) {
				t.Fatalf("Info = %+v %v, want alice at revision 7", info, ok)
			}
			// Another member with only the public key verifies it, and cannot sign.
			verifier, err := ParseJWTOptions(tc.verifyOpts, clock)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := verifier.Info(token, 0); !ok {
				t.Fatal("a verify-only member refused a valid token")
			}
			if _, err := verifier.Assign("alice", 7, "", 0); !errors.Is(err, ErrVerifyOnly) {
				t.Fatalf("verify-only Assign: got %v, want ErrVerifyOnly", err)
			}
			if _, ok := tk.Info(token+"x", 0); ok {
				t.Fatal("a tampered token was accepted")
			}
			now = now.Add(2 * time.Minute)
			if _, ok := tk.Info(token, 0); ok {
				t.Fatal("an expired token was accepted")
			}
		})
	}
	for _, bad := range []string{"sign-method=RS256", "sign-method=nope,priv-key=" + rsaPriv, "ttl=x,sign-method=RS256,priv-key=" + rsaPriv, "foo=bar"} {
		if _, err := ParseJWTOptions(bad, nil); err == nil {
			t.Errorf("ParseJWTOptions(%q) accepted", bad)
		}
	}
}

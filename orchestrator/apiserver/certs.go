package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files EnsureCerts keeps in the certificate directory.
const (
	CAFile          = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "apiserver.crt"
	ServingKeyFile  = "apiserver.key"
	AdminCertFile   = "admin.crt"
	AdminKeyFile    = "admin.key"
	KubeconfigFile  = "admin.kubeconfig"
)

// EnsureCerts creates in dir, unless they exist already, a CA, a serving certificate for
// 127.0.0.1, localhost and host (the bind address), and an admin client certificate
// (CN kubernetes-admin, O system:masters); then writes dir/admin.kubeconfig pointing at
// server (https://HOST:PORT). Replicas given the same dir share one CA.
func EnsureCerts(dir, host, server string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = issue(dir, CAFile, CAKeyFile, &x509.Certificate{
			Subject: pkix.Name{CommonName: "keel-apiserver-ca"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		}, nil, nil)
	}
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if _, _, err := loadPair(filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile)); errors.Is(err, os.ErrNotExist) {
		tmpl := &x509.Certificate{
			Subject: pkix.Name{CommonName: "keel-apiserver"}, DNSNames: []string{"localhost", "kubernetes", "kubernetes.default"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && host != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
		if _, _, err := issue(dir, ServingCertFile, ServingKeyFile, tmpl, caCert, caKey); err != nil {
			return fmt.Errorf("serving certificate: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if _, _, err := loadPair(filepath.Join(dir, AdminCertFile), filepath.Join(dir, AdminKeyFile)); errors.Is(err, os.ErrNotExist) {
		if _, _, err := issue(dir, AdminCertFile, AdminKeyFile, &x509.Certificate{
			Subject:  pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, caCert, caKey); err != nil {
			return fmt.Errorf("admin certificate: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	return WriteKubeconfig(filepath.Join(dir, KubeconfigFile), server, filepath.Join(dir, CAFile),
		filepath.Join(dir, AdminCertFile), filepath.Join(dir, AdminKeyFile))
}

// WriteKubeconfig writes a kubeconfig for server with the CA and client pair embedded.
func WriteKubeconfig(path, server, caFile, certFile, keyFile string) error {
	var data [3]string
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		data[i] = base64.StdEncoding.EncodeToString(b)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: keel
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kubernetes-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: kubernetes-admin@keel
  context:
    cluster: keel
    user: kubernetes-admin
current-context: kubernetes-admin@keel
`, server, data[0], data[1], data[2])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, fmt.Errorf("%s or %s: no PEM block", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// issue creates a key and a certificate from tmpl signed by parent (self-signed when nil)
// and writes them to dir. Files are written to temporary names and renamed, so that
// replicas racing on one dir each see a complete pair.
func issue(dir, certFile, keyFile string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{{keyFile, "EC PRIVATE KEY", kder}, {certFile, "CERTIFICATE", der}} {
		tmp := filepath.Join(dir, f.name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return nil, nil, err
		}
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

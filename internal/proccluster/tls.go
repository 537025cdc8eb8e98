package proccluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of a TLS cluster (Config.TLS). The certificate must be valid
// for 127.0.0.1 and usable for both server and client authentication: every member serves it
// on its client and peer URLs and presents it to the peers it dials, and the harness presents
// it as the client certificate of Status and Client.
type TLSFiles struct {
	// CAFile is the CA bundle members trust for client and peer certificates, and the harness
	// trusts for the members' certificates.
	CAFile string
	// CertFile and KeyFile are the certificate and its private key.
	CertFile string
	KeyFile  string
}

func (f *TLSFiles) validate() error {
	var errs []error
	for _, p := range []struct{ name, path string }{{"CAFile", f.CAFile}, {"CertFile", f.CertFile}, {"KeyFile", f.KeyFile}} {
		if p.path == "" {
			errs = append(errs, fmt.Errorf("proccluster: Config.TLS.%s is empty", p.name))
		} else if _, err := os.Stat(p.path); err != nil {
			errs = append(errs, fmt.Errorf("proccluster: Config.TLS.%s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// args returns etcd's TLS flags for client and peer URLs, with client certificates required
// on both.
func (f *TLSFiles) args() []string {
	return []string{
		"--cert-file", f.CertFile, "--key-file", f.KeyFile, "--trusted-ca-file", f.CAFile, "--client-cert-auth",
		"--peer-cert-file", f.CertFile, "--peer-key-file", f.KeyFile, "--peer-trusted-ca-file", f.CAFile,
		"--peer-client-cert-auth",
	}
}

// ClientConfig returns a client TLS configuration that trusts CAFile and presents the
// certificate.
func (f *TLSFiles) ClientConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("proccluster: TLS key pair: %w", err)
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("proccluster: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("proccluster: TLS CA %s: no PEM certificate", f.CAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

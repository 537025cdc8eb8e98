package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// connFlags are etcdctl's authentication and transport flags, which every command that dials
// the store takes: --user name[:password] and --password (etcd's auth), --cacert, --cert and
// --key (TLS, with a client certificate), --insecure-skip-tls-verify. Their defaults come
// from etcdctl's environment variables (ETCDCTL_USER, ETCDCTL_PASSWORD, ETCDCTL_CACERT,
// ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_INSECURE_SKIP_TLS_VERIFY), as --endpoints's does.
type connFlags struct {
	user, password     string
	caCert, cert, key  string
	insecureSkipVerify bool
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.user, "user", os.Getenv("ETCDCTL_USER"), "username[:password] for etcd's authentication")
	fs.StringVar(&c.password, "password", os.Getenv("ETCDCTL_PASSWORD"), "password for authentication (then --user is the whole name)")
	fs.StringVar(&c.caCert, "cacert", os.Getenv("ETCDCTL_CACERT"), "verify the servers' certificates with this CA bundle")
	fs.StringVar(&c.cert, "cert", os.Getenv("ETCDCTL_CERT"), "TLS client certificate file")
	fs.StringVar(&c.key, "key", os.Getenv("ETCDCTL_KEY"), "TLS client key file")
	fs.BoolVar(&c.insecureSkipVerify, "insecure-skip-tls-verify", os.Getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY") == "true",
		"skip verifying the servers' certificates (testing only)")
}

// credentials returns the username and password as etcdctl reads them: with --password,
// --user is the whole name; without, --user is split at its first colon. A --user without a
// password is an error (etcdctl would prompt; orch's components run unattended).
func (c *connFlags) credentials() (user, password string, err error) {
	switch {
	case c.user == "" && c.password != "":
		return "", "", errors.New("--password given without --user")
	case c.user == "":
		return "", "", nil
	case c.password != "":
		return c.user, c.password, nil
	}
	user, password, ok := strings.Cut(c.user, ":")
	if !ok {
		return "", "", fmt.Errorf("--user %q has no password: give --user name:password or --password", c.user)
	}
	return user, password, nil
}

// tlsConfig returns the client TLS configuration, or nil for plain connections: TLS is on
// when a certificate flag or --insecure-skip-tls-verify is given or an endpoint is https://.
// Without --cacert the system's roots verify the servers, as in etcdctl.
func (c *connFlags) tlsConfig(endpoints []string) (*tls.Config, error) {
	secure := c.caCert != "" || c.cert != "" || c.key != "" || c.insecureSkipVerify
	for _, ep := range endpoints {
		secure = secure || strings.HasPrefix(ep, "https://")
	}
	if !secure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.insecureSkipVerify} // only when asked for
	if (c.cert == "") != (c.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if c.cert != "" {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.caCert != "" {
		pem, err := os.ReadFile(c.caCert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate", c.caCert)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// tlsInfo is one side's (client or peer) TLS flags, named after etcd's.
type tlsInfo struct {
	certFile       string
	keyFile        string
	trustedCAFile  string
	clientCertAuth bool
	autoTLS        bool
}

// register adds the flags of one side; prefix is "" for client URLs and "peer-" for peer URLs.
func (ti *tlsInfo) register(fs *flag.FlagSet, prefix, what string) {
	fs.StringVar(&ti.certFile, prefix+"cert-file", "", "path to the "+what+" server TLS certificate file")
	fs.StringVar(&ti.keyFile, prefix+"key-file", "", "path to the "+what+" server TLS key file")
	fs.StringVar(&ti.trustedCAFile, prefix+"trusted-ca-file", "", "path to the "+what+" CA bundle that signs client certificates")
	fs.BoolVar(&ti.clientCertAuth, prefix+"client-cert-auth", false, "require "+what+" client certificates signed by --"+prefix+"trusted-ca-file")
	fs.BoolVar(&ti.autoTLS, prefix+"auto-tls", false, "not supported: use --"+prefix+"cert-file and --"+prefix+"key-file")
}

func (ti *tlsInfo) empty() bool { return ti.certFile == "" && ti.keyFile == "" }

// validate checks the flags of one side. needTLS says whether one of its URLs is https.
func (ti *tlsInfo) validate(prefix string, needTLS bool, httpsURL string) []error {
	var errs []error
	if ti.autoTLS {
		errs = append(errs, fmt.Errorf("--%sauto-tls is not supported: give a certificate with --%scert-file and --%skey-file",
			prefix, prefix, prefix))
	}
	if (ti.certFile == "") != (ti.keyFile == "") {
		errs = append(errs, fmt.Errorf("--%scert-file and --%skey-file must be given together", prefix, prefix))
	}
	if needTLS && ti.empty() && !ti.autoTLS {
		errs = append(errs, fmt.Errorf("URL %q is https: TLS key/cert (--%scert-file, --%skey-file) must be provided",
			httpsURL, prefix, prefix))
	}
	if ti.clientCertAuth && ti.trustedCAFile == "" {
		errs = append(errs, fmt.Errorf("--%sclient-cert-auth requires --%strusted-ca-file", prefix, prefix))
	}
	return errs
}

// serverConfig loads the certificate and CA of one side into a server-side TLS configuration.
func (ti *tlsInfo) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(ti.certFile, ti.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if ti.trustedCAFile != "" {
		pool, err := loadCAPool(ti.trustedCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
	}
	if ti.clientCertAuth {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// peerConfigs returns the peer side's server configuration and the configuration it dials
// other members with: it presents its own certificate and verifies theirs against
// --peer-trusted-ca-file (the system roots when that is unset), as etcd does.
func (ti *tlsInfo) peerConfigs() (server, client *tls.Config, err error) {
	server, err = ti.serverConfig()
	if err != nil {
		return nil, nil, err
	}
	client = &tls.Config{Certificates: server.Certificates, RootCAs: server.ClientCAs, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read trusted CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("trusted CA file %s: no PEM certificate found", file)
	}
	return pool, nil
}

// validateTLS checks the TLS flags against the URLs: https URLs need a certificate, and all
// peer URLs (this member's and --initial-cluster's) share one scheme, because a member dials
// every peer the way its own peer URL says.
func (o *options) validateTLS() error {
	var errs []error
	clientHTTPS := firstHTTPS(o.listenClientURLs, o.listenMetricsURLs)
	errs = append(errs, o.clientTLS.validate("", clientHTTPS != "", clientHTTPS)...)
	peerLists := []string{o.listenPeerURLs, o.initialAdvertisePeerURLs}
	for _, m := range strings.Split(o.initialCluster, ",") {
		if _, u, ok := strings.Cut(m, "="); ok {
			peerLists = append(peerLists, u)
		}
	}
	peerHTTPS := firstHTTPS(peerLists...)
	errs = append(errs, o.peerTLS.validate("peer-", peerHTTPS != "", peerHTTPS)...)
	if peerHTTPS != "" {
		for _, l := range peerLists {
			for _, u := range splitList(l) {
				if !strings.HasPrefix(u, "https://") {
					errs = append(errs, fmt.Errorf("peer URL %q is http while %q is https: peer URLs must all use one scheme",
						u, peerHTTPS))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// firstHTTPS returns the first https URL in the comma-separated lists, or "".
func firstHTTPS(lists ...string) string {
	for _, l := range lists {
		for _, u := range splitList(l) {
			if strings.HasPrefix(u, "https://") {
				return u
			}
		}
	}
	return ""
}

// peerTLSEnabled reports whether peer traffic runs over TLS (the peer URLs are https).
func (o *options) peerTLSEnabled() bool {
	return firstHTTPS(o.listenPeerURLs) != ""
}

// tlsConfigs are the loaded TLS configurations; a nil field means that side is plain text.
type tlsConfigs struct {
	client     *tls.Config // serves https client and metrics URLs
	peerServer *tls.Config // serves the https peer URL
	peerClient *tls.Config // dials other members' peer URLs
}

// loadTLS reads the certificate files the URLs need, so a bad file fails the start at once.
func loadTLS(o *options, log *slog.Logger) (tlsConfigs, error) {
	var out tlsConfigs
	var err error
	if firstHTTPS(o.listenClientURLs, o.listenMetricsURLs) != "" {
		if out.client, err = o.clientTLS.serverConfig(); err != nil {
			return out, fmt.Errorf("client TLS: %w", err)
		}
	} else if !o.clientTLS.empty() {
		log.Warn("client URLs are http: ignoring --cert-file and --key-file")
	}
	if o.peerTLSEnabled() {
		if out.peerServer, out.peerClient, err = o.peerTLS.peerConfigs(); err != nil {
			return out, fmt.Errorf("peer TLS: %w", err)
		}
	} else if !o.peerTLS.empty() {
		log.Warn("peer URLs are http: ignoring --peer-cert-file and --peer-key-file")
	}
	return out, nil
}

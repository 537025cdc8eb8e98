package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keeldb/keel/orchestrator/apiserver"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/rbac"
	"github.com/keeldb/keel/orchestrator/registry"
)

// apiserverFlags are `orch apiserver`'s own flags, with kube-apiserver's names.
type apiserverFlags struct {
	bindAddress   string
	securePort    int
	certDir       string
	tlsCertFile   string
	tlsKeyFile    string
	clientCAFile  string
	tokenAuthFile string
	anonymousAuth bool
	authzMode     string
}

func (f *apiserverFlags) register(fsRegister interface {
	StringVar(p *string, name, value, usage string)
	IntVar(p *int, name string, value int, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}) {
	fsRegister.StringVar(&f.bindAddress, "bind-address", "127.0.0.1", "address to serve HTTPS on")
	fsRegister.IntVar(&f.securePort, "secure-port", 6443, "port to serve HTTPS on")
	fsRegister.StringVar(&f.certDir, "cert-dir", "apiserver-certs", "directory of the generated CA, serving and admin certificates and admin.kubeconfig")
	fsRegister.StringVar(&f.tlsCertFile, "tls-cert-file", "", "serving certificate (default: generated in --cert-dir)")
	fsRegister.StringVar(&f.tlsKeyFile, "tls-private-key-file", "", "serving certificate's key")
	fsRegister.StringVar(&f.clientCAFile, "client-ca-file", "", "CA bundle that verifies client certificates (default: the generated CA)")
	fsRegister.StringVar(&f.tokenAuthFile, "token-auth-file", "", "bearer tokens: CSV lines token,user,uid,\"group1,group2\"")
	fsRegister.BoolVar(&f.anonymousAuth, "anonymous-auth", false, "serve requests without credentials as system:anonymous (default: 401)")
	fsRegister.StringVar(&f.authzMode, "authorization-mode", "RBAC", "RBAC (bootstrap ClusterRoles created when missing; system:masters may do anything) or AlwaysAllow")
}

func runAPIServer(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	var af apiserverFlags
	fs := newFlagSet("orch apiserver", stderr, &g)
	af.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "unexpected arguments %v\n", pos)
		return errUsage
	}
	log, err := g.logger(stderr)
	if err != nil {
		return err
	}
	tlsCfg, err := af.tlsConfig()
	if err != nil {
		return err
	}
	cfg := apiserver.Config{Logger: log, AnonymousAuth: af.anonymousAuth}
	if af.tokenAuthFile != "" {
		if cfg.Tokens, err = apiserver.LoadTokenFile(af.tokenAuthFile); err != nil {
			return err
		}
	}
	if cfg.Registry, err = registryConfig(g.encryptionConfig); err != nil {
		return err
	}
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	cfg.Client = cli
	switch af.authzMode {
	case "RBAC":
		bctx, cancel := context.WithTimeout(ctx, g.commandTimeout)
		err := rbac.Bootstrap(bctx, registry.NewStores(cli, cfg.Registry))
		cancel()
		if err != nil {
			return err
		}
		a, err := rbac.New(cli, cfg.Registry, rbac.Options{Logger: log})
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.Start(ctx); err != nil {
			return err
		}
		cfg.Authorizer = a
	case "AlwaysAllow":
		cfg.Authorizer = authz.AlwaysAllow{}
	default:
		return fmt.Errorf("unknown --authorization-mode %q (want RBAC or AlwaysAllow)", af.authzMode)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(af.bindAddress, strconv.Itoa(af.securePort)))
	if err != nil {
		return err
	}
	as := apiserver.New(cfg)
	bctx, cancel := context.WithTimeout(ctx, g.commandTimeout)
	err = as.Bootstrap(bctx)
	cancel()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: as.Handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	log.Info("apiserver serving", "address", "https://"+ln.Addr().String(), "kubeconfig", filepath.Join(af.certDir, apiserver.KubeconfigFile))
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tlsConfig returns the serving TLS configuration: the given serving pair and client CA, or
// those generated in --cert-dir (then admin.kubeconfig is written there too).
func (af *apiserverFlags) tlsConfig() (*tls.Config, error) {
	certFile, keyFile, caFile := af.tlsCertFile, af.tlsKeyFile, af.clientCAFile
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	if certFile == "" || caFile == "" {
		host := af.bindAddress
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		server := "https://" + net.JoinHostPort(host, strconv.Itoa(af.securePort))
		if err := apiserver.EnsureCerts(af.certDir, af.bindAddress, server); err != nil {
			return nil, fmt.Errorf("--cert-dir %s: %w", af.certDir, err)
		}
		if certFile == "" {
			certFile, keyFile = filepath.Join(af.certDir, apiserver.ServingCertFile), filepath.Join(af.certDir, apiserver.ServingKeyFile)
		}
		if caFile == "" {
			caFile = filepath.Join(af.certDir, apiserver.CAFile)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA %s: no PEM certificate", caFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool, NextProtos: []string{"h2", "http/1.1"}}, nil
}

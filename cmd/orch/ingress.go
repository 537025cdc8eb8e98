package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keeldb/keel/orchestrator/ingress"
)

// runIngressController is `orch ingress-controller --listen HOST:PORT [--listen-tls
// HOST:PORT] [--ingress-class C]`: an HTTP (and HTTPS) reverse proxy serving the Ingresses
// of class C (see orchestrator/ingress).
func runIngressController(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch ingress-controller", stderr, &g)
	listen := fs.String("listen", "127.0.0.1:8080", "HOST:PORT of the plain HTTP listener")
	listenTLS := fs.String("listen-tls", "", "HOST:PORT of an HTTPS listener, with the certificates of the Ingresses' TLS Secrets")
	class := fs.String("ingress-class", ingress.DefaultClass, "serve the Ingresses of this IngressClass (created, as the default class, if missing)")
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
	secrets, err := registryConfig(g.encryptionConfig)
	if err != nil {
		return err
	}
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	return ingress.New(cli, ingress.Config{Listen: *listen, ListenTLS: *listenTLS, Secrets: secrets, Class: *class, Logger: log}).Run(ctx)
}

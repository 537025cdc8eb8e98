package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keeldb/keel/orchestrator/ingress"
)

// runIngressController is `orch ingress-controller --listen HOST:PORT [--ingress-class C]`:
// a plain HTTP reverse proxy serving the Ingresses of class C (see orchestrator/ingress).
func runIngressController(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch ingress-controller", stderr, &g)
	listen := fs.String("listen", "127.0.0.1:8080", "HOST:PORT of the plain HTTP listener")
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
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	return ingress.New(cli, ingress.Config{Listen: *listen, Class: *class, Logger: log}).Run(ctx)
}

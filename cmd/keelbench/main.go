// Command keelbench measures etcd v3 endpoints (Keel or etcd) with the etcd client.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/keeldb/keel/bench"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "put" {
		fmt.Fprintln(os.Stderr, "usage: keelbench put [flags]  (more workloads: see the benchmark issue)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("put", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated endpoints")
	cfg := bench.PutConfig{}
	fs.IntVar(&cfg.Clients, "clients", 64, "concurrent clients")
	fs.IntVar(&cfg.Conns, "conns", 8, "gRPC connections")
	fs.IntVar(&cfg.Total, "total", 20000, "total puts")
	fs.IntVar(&cfg.KeySize, "key-size", 8, "key size in bytes")
	fs.IntVar(&cfg.ValSize, "val-size", 256, "value size in bytes")
	fs.IntVar(&cfg.KeySpace, "key-space", 10000, "distinct keys")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	_ = fs.Parse(os.Args[2:])
	cfg.Endpoints = strings.Split(*endpoints, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunPut(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keelbench:", err)
		os.Exit(1)
	}
	fmt.Println("put:", res)
}

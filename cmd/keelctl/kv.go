package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rangeOpts turns KEY [END] and --prefix into clientv3 options.
func rangeOpts(args []string, prefix bool) ([]clientv3.OpOption, error) {
	var opts []clientv3.OpOption
	switch {
	case prefix && len(args) > 1:
		return nil, errors.New("--prefix and an END key are exclusive")
	case prefix:
		opts = append(opts, clientv3.WithPrefix())
	case len(args) > 1:
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	return opts, nil
}

// getFlags: get KEY [END] prints keys and values (etcdctl's simple format: key, then value,
// one per line), a table, or the RangeResponse as JSON (keys and values base64, as etcdctl).
func getFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	prefix := fs.Bool("prefix", false, "get keys with the given prefix")
	keysOnly := fs.Bool("keys-only", false, "print only keys")
	limit := fs.Int64("limit", 0, "maximum number of results")
	rev := fs.Int64("rev", 0, "revision to read at (0 = latest)")
	consistency := fs.String("consistency", "l", "linearizable (l) or serializable (s)")
	return func(ctx context.Context, e *env) error {
		opts, err := rangeOpts(e.args, *prefix)
		if err != nil {
			return err
		}
		opts = append(opts, clientv3.WithLimit(*limit), clientv3.WithRev(*rev))
		if *keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		switch *consistency {
		case "l":
		case "s":
			opts = append(opts, clientv3.WithSerializable())
		default:
			return fmt.Errorf("unknown --consistency %q (want l or s)", *consistency)
		}
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			resp, err := cli.Get(ctx, e.args[0], opts...)
			if err != nil {
				return err
			}
			return printKVs(e.stdout, e.g.writeOut, (*pb.RangeResponse)(resp), *keysOnly)
		})
	}
}

func printKVs(w io.Writer, format string, resp *pb.RangeResponse, keysOnly bool) error {
	switch format {
	case "json":
		return writeJSON(w, resp)
	case "table":
		var rows [][]string
		for _, kv := range resp.Kvs {
			rows = append(rows, []string{string(kv.Key), string(kv.Value), strconv.FormatInt(kv.ModRevision, 10)})
		}
		return writeTable(w, []string{"KEY", "VALUE", "MOD REVISION"}, rows)
	}
	for _, kv := range resp.Kvs {
		if _, err := fmt.Fprintln(w, string(kv.Key)); err != nil {
			return err
		}
		if !keysOnly {
			if _, err := fmt.Fprintln(w, string(kv.Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// putFlags: put KEY VALUE writes a key and prints OK (or the PutResponse as JSON).
func putFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	leaseHex := fs.String("lease", "", "lease ID (hex) to attach the key to")
	return func(ctx context.Context, e *env) error {
		var opts []clientv3.OpOption
		if *leaseHex != "" {
			id, err := strconv.ParseInt(*leaseHex, 16, 64)
			if err != nil {
				return fmt.Errorf("bad lease ID %q (want hex): %w", *leaseHex, err)
			}
			opts = append(opts, clientv3.WithLease(clientv3.LeaseID(id)))
		}
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			resp, err := cli.Put(ctx, e.args[0], e.args[1], opts...)
			if err != nil {
				return err
			}
			if e.g.writeOut == "json" {
				return writeJSON(e.stdout, (*pb.PutResponse)(resp))
			}
			_, err = fmt.Fprintln(e.stdout, "OK")
			return err
		})
	}
}

// delFlags: del KEY [END] deletes keys and prints how many (or the response as JSON).
func delFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	prefix := fs.Bool("prefix", false, "delete keys with the given prefix")
	return func(ctx context.Context, e *env) error {
		opts, err := rangeOpts(e.args, *prefix)
		if err != nil {
			return err
		}
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			resp, err := cli.Delete(ctx, e.args[0], opts...)
			if err != nil {
				return err
			}
			if e.g.writeOut == "json" {
				return writeJSON(e.stdout, (*pb.DeleteRangeResponse)(resp))
			}
			_, err = fmt.Fprintln(e.stdout, resp.Deleted)
			return err
		})
	}
}

// watchFlags: watch KEY [END] prints events as etcdctl does (type, key, value on three
// lines; JSON: one WatchResponse per line) until interrupted, the watch is canceled, or
// --max-events events were printed. It is not bounded by --command-timeout.
func watchFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	prefix := fs.Bool("prefix", false, "watch keys with the given prefix")
	rev := fs.Int64("rev", 0, "revision to start watching from (0 = now)")
	maxEvents := fs.Int("max-events", 0, "exit after this many events (0 = never)")
	return func(ctx context.Context, e *env) error {
		opts, err := rangeOpts(e.args, *prefix)
		if err != nil {
			return err
		}
		opts = append(opts, clientv3.WithRev(*rev))
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		seen := 0
		for wr := range cli.Watch(ctx, e.args[0], opts...) {
			if err := wr.Err(); err != nil {
				return err
			}
			if err := printWatch(e.stdout, e.g.writeOut, &wr); err != nil {
				return err
			}
			seen += len(wr.Events)
			if *maxEvents > 0 && seen >= *maxEvents {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil // interrupted
		}
		return errors.New("watch closed")
	}
}

func printWatch(w io.Writer, format string, wr *clientv3.WatchResponse) error {
	if format == "json" {
		return writeJSON(w, wr)
	}
	for _, ev := range wr.Events {
		typ := "PUT"
		if ev.Type == mvccpb.DELETE {
			typ = "DELETE"
		}
		if _, err := fmt.Fprintf(w, "%s\n%s\n%s\n", typ, ev.Kv.Key, ev.Kv.Value); err != nil {
			return err
		}
	}
	return nil
}

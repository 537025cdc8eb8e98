package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// alarmListFlags: alarm list prints every active alarm, one "memberID:<id> alarm:<type>" per
// line (etcdctl's format).
func alarmListFlags(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := e.timeout(ctx)
		defer cancel()
		resp, err := cli.AlarmList(ctx)
		if err != nil {
			return err
		}
		return printAlarms(e.stdout, e.g.writeOut, resp.Alarms)
	}
}

// alarmDisarmFlags: alarm disarm deactivates every active alarm and prints those it cleared.
func alarmDisarmFlags(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := e.timeout(ctx)
		defer cancel()
		resp, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}) // zero member: every alarm
		if err != nil {
			return err
		}
		return printAlarms(e.stdout, e.g.writeOut, resp.Alarms)
	}
}

// defragFlags: defrag defragments each endpoint in turn (a direct call to that member) and
// fails if any of them failed.
func defragFlags(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		var errs []error
		for _, ep := range e.g.endpointList() {
			cctx, cancel := e.timeout(ctx)
			_, err := cli.Defragment(cctx, ep)
			cancel()
			if err != nil {
				fmt.Fprintf(e.stderr, "Failed to defragment etcd member[%s] (%v)\n", ep, err)
				errs = append(errs, fmt.Errorf("%s: %w", ep, err))
				continue
			}
			fmt.Fprintf(e.stdout, "Finished defragmenting etcd member[%s]\n", ep)
		}
		return errors.Join(errs...)
	}
}

// endpointStatus is one endpoint's Status, as etcdctl's JSON output nests it.
type endpointStatus struct {
	Endpoint string             `json:"Endpoint"`
	Status   *pb.StatusResponse `json:"Status"`
}

// endpointStatusFlags: endpoint status prints every endpoint's Status (with --cluster,
// every member's, found through the member list).
func endpointStatusFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	cluster := fs.Bool("cluster", false, "use every member's client URLs from the member list")
	return func(ctx context.Context, e *env) error {
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		eps, err := e.endpoints(ctx, cli, *cluster)
		if err != nil {
			return err
		}
		var out []endpointStatus
		var errs []error
		for _, ep := range eps {
			cctx, cancel := e.timeout(ctx)
			resp, err := cli.Status(cctx, ep)
			cancel()
			if err != nil {
				fmt.Fprintf(e.stderr, "Failed to get the status of endpoint %s (%v)\n", ep, err)
				errs = append(errs, fmt.Errorf("%s: %w", ep, err))
				continue
			}
			out = append(out, endpointStatus{Endpoint: ep, Status: (*pb.StatusResponse)(resp)})
		}
		if err := printEndpointStatus(e.stdout, e.g.writeOut, out); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// endpoints returns the endpoints a per-endpoint command visits: the --endpoints list, or
// with cluster set every member's client URLs (schemes stripped, as clientv3 dials them).
func (e *env) endpoints(ctx context.Context, cli *clientv3.Client, cluster bool) ([]string, error) {
	if !cluster {
		return e.g.endpointList(), nil
	}
	ctx, cancel := e.timeout(ctx)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var eps []string
	for _, m := range resp.Members {
		for _, u := range m.ClientURLs {
			eps = append(eps, strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("no member publishes a client URL")
	}
	return eps, nil
}

// endpointHealth is one endpoint's health, as etcdctl's JSON output has it.
type endpointHealth struct {
	Endpoint string `json:"endpoint"`
	Health   bool   `json:"health"`
	Took     string `json:"took"`
	Error    string `json:"error,omitempty"`
}

// endpointHealthFlags: endpoint health checks each endpoint as etcdctl does, with a
// linearizable read through a client of that endpoint alone (a member without a leader, or
// with an alarm, fails it), and fails if any endpoint is unhealthy.
func endpointHealthFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	cluster := fs.Bool("cluster", false, "use every member's client URLs from the member list")
	return func(ctx context.Context, e *env) error {
		eps := e.g.endpointList()
		if *cluster {
			cli, err := e.g.client(nil)
			if err != nil {
				return err
			}
			eps, err = e.endpoints(ctx, cli, true)
			cli.Close()
			if err != nil {
				return err
			}
		}
		var out []endpointHealth
		unhealthy := 0
		for _, ep := range eps {
			h := checkHealth(ctx, e, ep)
			if !h.Health {
				unhealthy++
			}
			out = append(out, h)
		}
		if err := printEndpointHealth(e.stdout, e.g.writeOut, out); err != nil {
			return err
		}
		if unhealthy > 0 {
			return fmt.Errorf("unhealthy cluster: %d of %d endpoints", unhealthy, len(out))
		}
		return nil
	}
}

func checkHealth(ctx context.Context, e *env, ep string) endpointHealth {
	h := endpointHealth{Endpoint: ep}
	cli, err := e.g.client([]string{ep})
	if err != nil {
		h.Error = err.Error()
		return h
	}
	defer cli.Close()
	ctx, cancel := e.timeout(ctx)
	defer cancel()
	start := time.Now()
	_, err = cli.Get(ctx, "health")
	h.Took = time.Since(start).Round(time.Microsecond).String()
	if err == nil {
		var alarms *clientv3.AlarmResponse
		if alarms, err = cli.AlarmList(ctx); err == nil && len(alarms.Alarms) > 0 {
			err = fmt.Errorf("active alarm(s): %v", alarms.Alarms[0].Alarm)
		}
	}
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.Health = true
	return h
}

// printEndpointHealth prints health results like etcdctl endpoint health.
func printEndpointHealth(w io.Writer, format string, hs []endpointHealth) error {
	switch format {
	case "json":
		return writeJSON(w, hs)
	case "table":
		var rows [][]string
		for _, h := range hs {
			rows = append(rows, []string{h.Endpoint, fmt.Sprint(h.Health), h.Took, h.Error})
		}
		return writeTable(w, []string{"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows)
	}
	for _, h := range hs {
		var err error
		if h.Health {
			_, err = fmt.Fprintf(w, "%s is healthy: successfully committed proposal: took = %s\n", h.Endpoint, h.Took)
		} else {
			_, err = fmt.Fprintf(w, "%s is unhealthy: failed to commit proposal: %s\n", h.Endpoint, h.Error)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withClient runs f with a client on all endpoints and the command timeout.
func withClient(ctx context.Context, e *env, f func(ctx context.Context, cli *clientv3.Client) error) error {
	cli, err := e.g.client(nil)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := e.timeout(ctx)
	defer cancel()
	return f(ctx, cli)
}

// memberListFlags: member list prints the members like etcdctl member list.
func memberListFlags(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			resp, err := cli.MemberList(ctx)
			if err != nil {
				return err
			}
			return printMembers(e.stdout, e.g.writeOut, (*pb.MemberListResponse)(resp))
		})
	}
}

func printMembers(w io.Writer, format string, resp *pb.MemberListResponse) error {
	if format == "json" {
		return writeJSON(w, resp)
	}
	var rows [][]string
	for _, m := range resp.Members {
		status := "started"
		if m.Name == "" {
			status = "unstarted"
		}
		rows = append(rows, []string{fmt.Sprintf("%x", m.ID), status, m.Name, strings.Join(m.PeerURLs, ","),
			strings.Join(m.ClientURLs, ","), fmt.Sprint(m.IsLearner)})
	}
	if format == "table" {
		return writeTable(w, []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}, rows)
	}
	for _, r := range rows {
		if _, err := fmt.Fprintln(w, strings.Join(r, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// memberAddFlags: member add NAME --peer-urls U [--learner] adds a member and prints the
// settings it must start with, as etcdctl does.
func memberAddFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	peerURLs := fs.String("peer-urls", "", "comma-separated peer URLs of the new member (required)")
	learner := fs.Bool("learner", false, "add the member as a learner (non-voting)")
	return func(ctx context.Context, e *env) error {
		urls := splitURLs(*peerURLs)
		if len(urls) == 0 {
			return errors.New("member add: --peer-urls is required")
		}
		name := e.args[0]
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			add := cli.MemberAdd
			if *learner {
				add = cli.MemberAddAsLearner
			}
			resp, err := add(ctx, urls)
			if err != nil {
				return err
			}
			if e.g.writeOut == "json" {
				return writeJSON(e.stdout, (*pb.MemberAddResponse)(resp))
			}
			fmt.Fprintf(e.stdout, "Member %x added to cluster %x\n\n", resp.Member.ID, resp.Header.ClusterId)
			var conf []string
			for _, m := range resp.Members {
				n := m.Name
				if m.ID == resp.Member.ID {
					n = name
				}
				for _, u := range m.PeerURLs {
					if n != "" {
						conf = append(conf, n+"="+u)
					}
				}
			}
			fmt.Fprintf(e.stdout, "ETCD_NAME=%q\nETCD_INITIAL_CLUSTER=%q\nETCD_INITIAL_ADVERTISE_PEER_URLS=%q\n"+
				"ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n", name, strings.Join(conf, ","), strings.Join(urls, ","))
			return nil
		})
	}
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func parseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("bad member ID %q (want hex): %w", s, err)
	}
	return id, nil
}

// memberChange builds a member command that takes a hex ID and reports "Member <id> <verb>
// cluster <cluster>".
func memberChange(verb string, do func(ctx context.Context, cli *clientv3.Client, id uint64) (*pb.ResponseHeader, error)) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		id, err := parseMemberID(e.args[0])
		if err != nil {
			return err
		}
		return withClient(ctx, e, func(ctx context.Context, cli *clientv3.Client) error {
			h, err := do(ctx, cli, id)
			if err != nil {
				return err
			}
			if e.g.writeOut == "json" {
				return writeJSON(e.stdout, map[string]any{"header": h, "memberID": id})
			}
			_, err = fmt.Fprintf(e.stdout, "Member %x %s cluster %x\n", id, verb, h.GetClusterId())
			return err
		})
	}
}

// memberRemoveFlags: member remove ID removes a member.
func memberRemoveFlags(*flag.FlagSet) func(context.Context, *env) error {
	return memberChange("removed from", func(ctx context.Context, cli *clientv3.Client, id uint64) (*pb.ResponseHeader, error) {
		resp, err := cli.MemberRemove(ctx, id)
		if err != nil {
			return nil, err
		}
		return resp.Header, nil
	})
}

// memberPromoteFlags: member promote ID makes a caught-up learner a voting member.
func memberPromoteFlags(*flag.FlagSet) func(context.Context, *env) error {
	return memberChange("promoted in", func(ctx context.Context, cli *clientv3.Client, id uint64) (*pb.ResponseHeader, error) {
		resp, err := cli.MemberPromote(ctx, id)
		if err != nil {
			return nil, err
		}
		return resp.Header, nil
	})
}

// memberUpdateFlags: member update ID --peer-urls U changes a member's peer URLs.
func memberUpdateFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	peerURLs := fs.String("peer-urls", "", "comma-separated new peer URLs (required)")
	return memberChange("updated in", func(ctx context.Context, cli *clientv3.Client, id uint64) (*pb.ResponseHeader, error) {
		urls := splitURLs(*peerURLs)
		if len(urls) == 0 {
			return nil, errors.New("member update: --peer-urls is required")
		}
		resp, err := cli.MemberUpdate(ctx, id, urls)
		if err != nil {
			return nil, err
		}
		return resp.Header, nil
	})
}

// Package compat_test holds Keel's black-box etcd compatibility tests. They start real
// multi-member clusters with internal/proccluster and compare Keel's keeld with Debian's
// etcd 3.4 (the reference):
//
//   - TestKVCompat (this file, script_*_test.go) replays one deterministic table of KV requests
//     against two fresh 3-member clusters in lockstep and requires identical responses and
//     errors, ignoring only cluster_id, member_id and raft_term in response headers. It runs
//     etcd against etcd (proving the harness is deterministic) and, once cmd/keeld exists, Keel
//     against etcd.
//   - TestEtcdctl (etcdctl_test.go) drives the etcdctl CLI against both binaries.
//   - TestAuthCompat (auth_compat_test.go) replays one auth script (etcdctl user, role and auth
//     commands, denials, token expiry) against etcd 3.4 and Keel in lockstep and compares the
//     transcripts.
//
// The Keel side skips while cmd/keeld does not exist; the etcd side skips when etcd is not
// installed unless KEEL_REQUIRE_ETCD=1.
//
// Notes on the script:
//   - Step k goes to member k mod 3 on both sides, so every member serves every kind of request
//     (followers must forward writes and serve linearizable reads). Serializable reads are
//     preceded by a linearizable read on the same member so that they are deterministic.
//   - A few steps have a fixed expected outcome instead of etcd's, because Debian's etcd 3.4
//     crashes or misbehaves on them (see step.fixed); they run against Keel only.
//   - `go test -v` logs each step's header revision; COMPAT_DUMP=1 also logs the reference
//     response of every step.
package compat_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// requestTimeout bounds one request of the script; it is a hang guard, not a timing check.
const requestTimeout = 20 * time.Second

// maxFailedSteps stops a run after this many mismatching steps: by then later steps mostly
// repeat the first divergence.
const maxFailedSteps = 5

// step is one named request of the script. do sends it through kv, a KV client bound to a single
// member, and returns the response (ignored when err != nil).
type step struct {
	name string
	do   func(ctx context.Context, kv pb.KVClient) (proto.Message, error)
	// wantRev, when non-zero, is the header revision both sides must report. It pins the
	// revision arithmetic of the script (a brand-new cluster is at 1; the first write gets 2).
	wantRev int64
	// fixed, when set, replaces the comparison with etcd for this step: the step is sent to the
	// Keel side only and must produce exactly this outcome. Use it only where Debian's etcd 3.4
	// cannot serve as the reference (it crashes, or predates the behaviour docs/ETCD-API.md
	// pins), and say why in fixedWhy. etcd-vs-etcd skips such steps.
	fixed    *outcome
	fixedWhy string
}

// side is one cluster under comparison with one raw KV client per member.
type side struct {
	name    string
	etcd    bool // the binary is etcd (fixed-outcome steps are skipped)
	cluster *proccluster.Cluster
	kvs     []pb.KVClient
}

// crashed names the members of s whose process has died.
func (s side) crashed() []string {
	var dead []string
	for i := range s.cluster.Size() {
		if !s.cluster.Running(i) {
			dead = append(dead, fmt.Sprintf("%s/%s", s.name, s.cluster.Name(i)))
		}
	}
	return dead
}

// startSide starts a 3-member cluster of binary and connects one clientv3 per member.
func startSide(t *testing.T, name, binary string, etcd bool) side {
	t.Helper()
	c := proccluster.Start(t, proccluster.Config{Binary: binary, Members: 3})
	s := side{name: name, etcd: etcd, cluster: c}
	for i := range c.Size() {
		cli := c.Client(t, i)
		s.kvs = append(s.kvs, pb.NewKVClient(cli.ActiveConnection()))
	}
	return s
}

// TestKVCompat replays the script against two clusters. etcd-vs-etcd must always pass: it
// proves that every step is deterministic and that the comparison ignores only what it should.
func TestKVCompat(t *testing.T) {
	steps := script()
	t.Run("etcd-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		runScript(t, steps, startSide(t, "etcd-a", etcd, true), startSide(t, "etcd-b", etcd, true))
	})
	t.Run("keel-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		keeld := proccluster.BuildKeeld(t)
		runScript(t, steps, startSide(t, "keel", keeld, false), startSide(t, "etcd", etcd, true))
	})
}

// TestScriptNames keeps step names unique, so that a failure names exactly one step.
func TestScriptNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range script() {
		if s.name == "" || seen[s.name] {
			t.Errorf("step name %q is empty or duplicated", s.name)
		}
		seen[s.name] = true
	}
}

// runScript sends every step to got and want in lockstep (step k goes to member k mod 3 on both
// sides) and compares the outcomes in a subtest named after the step.
func runScript(t *testing.T, steps []step, got, want side) {
	t.Helper()
	failed := 0
	for k, s := range steps {
		member := k % len(got.kvs)
		ok := t.Run(s.name, func(t *testing.T) {
			if s.fixed != nil {
				if got.etcd {
					t.Skipf("fixed-outcome step (%s); it runs only against Keel", s.fixedWhy)
				}
				g := run(t, s, got.kvs[member])
				if diff := compareOutcomes(g, *s.fixed); diff != "" {
					t.Fatalf("step %d %q on member %d: %s (got) differs from the fixed outcome (want; %s):\n%s", k, s.name, member, got.name, s.fixedWhy, diff)
				}
				if dead := got.crashed(); len(dead) > 0 {
					t.Fatalf("step %d %q: members died: %v (see their logs below)", k, s.name, dead)
				}
				return
			}
			g := run(t, s, got.kvs[member])
			w := run(t, s, want.kvs[member])
			if dead := append(got.crashed(), want.crashed()...); len(dead) > 0 {
				t.Fatalf("step %d %q on member %d: members died: %v (see their logs below)", k, s.name, member, dead)
			}
			if diff := compareOutcomes(g, w); diff != "" {
				t.Fatalf("step %d %q on member %d: %s (got) differs from %s (want):\n%s", k, s.name, member, got.name, want.name, diff)
			}
			t.Logf("%s: header revision %d, error %s", want.name, headerRevision(w.resp), w.errString())
			if os.Getenv("COMPAT_DUMP") != "" {
				t.Logf("%s", render(w.resp))
			}
			if s.wantRev != 0 {
				if rev := headerRevision(w.resp); rev != s.wantRev {
					t.Errorf("%s: header revision = %d (err %v), want %d", want.name, rev, w.errString(), s.wantRev)
				}
			}
		})
		if !ok {
			if failed++; failed >= maxFailedSteps {
				t.Fatalf("stopping after %d failed steps; later steps would only repeat the divergence", failed)
			}
		}
	}
}

// outcome is a normalized result of one step: a response or a gRPC status.
type outcome struct {
	resp proto.Message // nil when the call failed
	code codes.Code
	msg  string
}

func (o outcome) errString() string {
	if o.resp != nil {
		return "<nil>"
	}
	return fmt.Sprintf("code=%s desc=%q", o.code, o.msg)
}

func run(t *testing.T, s step, kv pb.KVClient) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	resp, err := s.do(ctx, kv)
	return makeOutcome(resp, err)
}

func makeOutcome(resp proto.Message, err error) outcome {
	if err != nil {
		st := status.Convert(err)
		return outcome{code: st.Code(), msg: st.Message()}
	}
	return outcome{resp: normalize(resp)}
}

// normalize returns a copy of m with cluster_id, member_id and raft_term cleared in every
// ResponseHeader, however deeply nested (Txn responses carry one per inner response).
func normalize(m proto.Message) proto.Message {
	if m == nil || !m.ProtoReflect().IsValid() {
		return m
	}
	c := proto.Clone(m)
	zeroHeaders(c.ProtoReflect())
	return c
}

func zeroHeaders(m protoreflect.Message) {
	if h, ok := m.Interface().(*pb.ResponseHeader); ok {
		h.ClusterId, h.MemberId, h.RaftTerm = 0, 0, 0
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				zeroHeaders(v.List().Get(i).Message())
			}
		default:
			zeroHeaders(v.Message())
		}
		return true
	})
}

// compareOutcomes returns "" when got and want are equal, else a readable diff.
func compareOutcomes(got, want outcome) string {
	switch {
	case got.resp == nil && want.resp == nil:
		if got.code == want.code && got.msg == want.msg {
			return ""
		}
		return fmt.Sprintf("error: got %s, want %s", got.errString(), want.errString())
	case got.resp == nil || want.resp == nil:
		return fmt.Sprintf("got error %s and response:\n%s\nwant error %s and response:\n%s",
			got.errString(), render(got.resp), want.errString(), render(want.resp))
	case proto.Equal(got.resp, want.resp):
		return ""
	default:
		return lineDiff(render(got.resp), render(want.resp))
	}
}

// render prints m as multi-line text proto (bytes shown as escaped strings, unlike JSON's
// base64), shortening very long values.
func render(m proto.Message) string {
	if m == nil {
		return "<nil>"
	}
	s := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Format(m)
	const maxLine = 200
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + fmt.Sprintf("...(%d bytes)", len(l))
		}
	}
	return strings.Join(lines, "\n")
}

// lineDiff is a small LCS line diff: "-" lines only in got, "+" lines only in want.
func lineDiff(got, want string) string {
	a, b := strings.Split(got, "\n"), strings.Split(want, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("--- got\n+++ want\n")
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			sb.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("- " + a[i] + "\n")
			i++
		default:
			sb.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return sb.String()
}

// headerRevision returns the outer header revision of a KV response, or 0.
func headerRevision(m proto.Message) int64 {
	if h, ok := m.(interface{ GetHeader() *pb.ResponseHeader }); ok {
		return h.GetHeader().GetRevision()
	}
	return 0
}

// TestCompareOutcomes checks the comparison itself: headers' identity fields are ignored, and
// everything else, including nested txn headers and error text, is not.
func TestCompareOutcomes(t *testing.T) {
	hdr := func(cluster, member, term uint64, rev int64) *pb.ResponseHeader {
		return &pb.ResponseHeader{ClusterId: cluster, MemberId: member, RaftTerm: term, Revision: rev}
	}
	txn := func(outer, innerMember uint64, innerRev int64, value string) *pb.TxnResponse {
		return &pb.TxnResponse{
			Header:    hdr(1, outer, 2, 5),
			Succeeded: true,
			Responses: []*pb.ResponseOp{{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{
				Header: hdr(0, innerMember, 7, innerRev),
				Kvs:    nil,
				Count:  int64(len(value)),
			}}}},
		}
	}
	tests := []struct {
		name      string
		got, want outcome
		equal     bool
	}{
		{"identity fields ignored", makeOutcome(txn(11, 12, 5, "x"), nil), makeOutcome(txn(21, 22, 5, "x"), nil), true},
		{"inner revision compared", makeOutcome(txn(11, 12, 5, "x"), nil), makeOutcome(txn(11, 12, 6, "x"), nil), false},
		{"inner body compared", makeOutcome(txn(11, 12, 5, "x"), nil), makeOutcome(txn(11, 12, 5, "xy"), nil), false},
		{"same error", makeOutcome(nil, status.Error(codes.OutOfRange, "a")), makeOutcome(nil, status.Error(codes.OutOfRange, "a")), true},
		{"error code compared", makeOutcome(nil, status.Error(codes.OutOfRange, "a")), makeOutcome(nil, status.Error(codes.Unknown, "a")), false},
		{"error text compared", makeOutcome(nil, status.Error(codes.OutOfRange, "a")), makeOutcome(nil, status.Error(codes.OutOfRange, "b")), false},
		{"error vs response", makeOutcome(nil, status.Error(codes.OutOfRange, "a")), makeOutcome(&pb.PutResponse{}, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff := compareOutcomes(tt.got, tt.want)
			if (diff == "") != tt.equal {
				t.Errorf("compareOutcomes() = %q, want equal=%v", diff, tt.equal)
			}
			t.Logf("diff:\n%s", diff)
		})
	}
}

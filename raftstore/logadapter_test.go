package raftstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestHCLogAdapterFormatsFmt checks that hclog.Fmt arguments are formatted, as hashicorp/raft's
// "initial configuration" line passes its servers, instead of printing the literal format.
func TestHCLogAdapterFormatsFmt(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, nil))).With("k", hclog.Fmt("%d-%s", 7, "x"))
	servers := []raft.Server{{ID: "a1", Address: "127.0.0.1:2380", Suffrage: raft.Voter}}
	l.Info("initial configuration", "index", 3, "servers", hclog.Fmt("%+v", servers))
	got := buf.String()
	for _, want := range []string{"ID:a1", "Address:127.0.0.1:2380", "k=7-x"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q does not contain %q", got, want)
		}
	}
	if strings.Contains(got, "%+v") {
		t.Errorf("log line %q has the literal format", got)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/raftstore"
)

// printSnapshotStatus prints a snapshot's status as etcdctl does: "hash, revision, keys,
// size" (simple), a table, or {"hash","revision","totalKey","totalSize"} (json).
func printSnapshotStatus(w io.Writer, format string, info raftstore.SnapshotInfo) error {
	switch format {
	case "json":
		return writeJSON(w, map[string]any{"hash": info.Hash, "revision": info.Revision,
			"totalKey": info.TotalKeys, "totalSize": info.TotalSize})
	case "table":
		return writeTable(w, []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"}, [][]string{{
			fmt.Sprintf("%x", info.Hash), fmt.Sprint(info.Revision), fmt.Sprint(info.TotalKeys), humanBytes(info.TotalSize)}})
	default:
		_, err := fmt.Fprintf(w, "%x, %d, %d, %s\n", info.Hash, info.Revision, info.TotalKeys, humanBytes(info.TotalSize))
		return err
	}
}

// printAlarms prints alarms one per line ("memberID:<decimal> alarm:<type>"), or as JSON.
func printAlarms(w io.Writer, format string, alarms []*pb.AlarmMember) error {
	if format == "json" {
		type alarm struct {
			MemberID uint64 `json:"memberID"`
			Alarm    string `json:"alarm"`
		}
		out := make([]alarm, 0, len(alarms))
		for _, a := range alarms {
			out = append(out, alarm{MemberID: a.MemberID, Alarm: a.Alarm.String()})
		}
		return writeJSON(w, map[string]any{"alarms": out})
	}
	for _, a := range alarms {
		if _, err := fmt.Fprintf(w, "memberID:%d alarm:%s \n", a.MemberID, a.Alarm); err != nil {
			return err
		}
	}
	return nil
}

// printEndpointStatus prints statuses like etcdctl endpoint status.
func printEndpointStatus(w io.Writer, format string, st []endpointStatus) error {
	header := []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "DB SIZE IN USE", "IS LEADER", "IS LEARNER",
		"RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}
	var rows [][]string
	for _, s := range st {
		r := s.Status
		rows = append(rows, []string{s.Endpoint, fmt.Sprintf("%x", r.Header.GetMemberId()), r.Version,
			humanBytes(r.DbSize), humanBytes(r.DbSizeInUse), fmt.Sprint(r.Leader == r.Header.GetMemberId()),
			fmt.Sprint(r.IsLearner), fmt.Sprint(r.RaftTerm), fmt.Sprint(r.RaftIndex), fmt.Sprint(r.RaftAppliedIndex),
			strings.Join(r.Errors, ", ")})
	}
	switch format {
	case "json":
		return writeJSON(w, st)
	case "table":
		return writeTable(w, header, rows)
	default:
		for _, r := range rows {
			if _, err := fmt.Fprintln(w, strings.Join(r, ", ")); err != nil {
				return err
			}
		}
		return nil
	}
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// writeTable prints an ASCII table with a boxed, centred header (etcdctl's look).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	line := func() {
		b.WriteString("+")
		for _, wd := range widths {
			b.WriteString(strings.Repeat("-", wd+2) + "+")
		}
		b.WriteString("\n")
	}
	row := func(cells []string, center bool) {
		b.WriteString("|")
		for i, c := range cells {
			pad := widths[i] - len(c)
			left := 0
			if center {
				left = pad / 2
			}
			b.WriteString(" " + strings.Repeat(" ", left) + c + strings.Repeat(" ", pad-left) + " |")
		}
		b.WriteString("\n")
	}
	line()
	row(header, true)
	line()
	for _, r := range rows {
		row(r, false)
	}
	line()
	_, err := io.WriteString(w, b.String())
	return err
}

// humanBytes formats a size like etcdctl (humanize.Bytes: SI units, e.g. "16 MB").
func humanBytes(n int64) string {
	const unit = 1000
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	if f < 10 && i > 0 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

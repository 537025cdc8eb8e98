package kvhist

import (
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keeldb/keel/internal/watchcheck"
)

// CheckLinearizable runs porcupine with Model over ops, giving up after timeout (the result
// is then porcupine.Unknown). When the history is porcupine.Illegal and visualizeDir is not
// "", it writes porcupine's HTML visualization to a new file keel-history-*.html in
// visualizeDir and returns its path; if that fails, path is a parenthesised note saying why.
// Otherwise path is "".
func CheckLinearizable(ops []porcupine.Operation, timeout time.Duration, visualizeDir string) (res porcupine.CheckResult, path string) {
	model := Model()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res != porcupine.Illegal || visualizeDir == "" {
		return res, ""
	}
	f, err := os.CreateTemp(visualizeDir, "keel-history-*.html")
	if err != nil {
		return res, "(no visualization: " + err.Error() + ")"
	}
	defer f.Close()
	if err := porcupine.Visualize(model, info, f); err != nil {
		return res, "(no visualization: " + err.Error() + ")"
	}
	return res, f.Name()
}

// CheckWrites compares the attempted writes with hist, every put (and delete, if the
// workload deletes) under the workload's prefix in revision order (watchcheck.ReadHistory
// reads the puts). An acknowledged Delete that deleted a key must be a delete of that key at
// its revision. It returns the acknowledged writes
// missing from hist at their revision (lost), and the entries of hist that no client wrote
// nor markers (values the test itself wrote) name, or that repeat a value (extra). Both are
// empty when the history is right.
func CheckWrites(hist []watchcheck.Event, writes []Write, markers map[string]bool) (lost, extra []string) {
	byRev := map[int64]watchcheck.Event{}
	count := map[string]int{}
	for _, e := range hist {
		byRev[e.Rev] = e
		if !e.Delete {
			count[e.Value]++
		}
	}
	attempted := map[string]bool{}
	for _, w := range writes {
		attempted[w.Value] = true
		if w.Rev == 0 {
			continue
		}
		if e, ok := byRev[w.Rev]; !ok || e.Key != w.Key || e.Value != w.Value || e.Delete != w.Delete {
			lost = append(lost, fmt.Sprintf("%s=%s acknowledged at revision %d; history has %+v", w.Key, w.Value, w.Rev, e))
		}
	}
	for _, e := range hist {
		if e.Delete {
			continue
		}
		if !attempted[e.Value] && !markers[e.Value] {
			extra = append(extra, fmt.Sprintf("revision %d: %s=%s was never written", e.Rev, e.Key, e.Value))
		}
		if count[e.Value] > 1 {
			extra = append(extra, fmt.Sprintf("revision %d: %s=%s applied %d times", e.Rev, e.Key, e.Value, count[e.Value]))
		}
	}
	return lost, extra
}

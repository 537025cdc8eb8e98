#!/usr/bin/env bash
# Two Keel clusters that differ only in their flags, side by side: starts a 3-member Keel with
# A_ARGS and one with B_ARGS on loopback, runs each keelbench workload against both in
# alternating rounds (keelbench --compare) and prints the comparison. The tuning figures in
# bench/PERFORMANCE.md come from it.
#
#   A_ARGS="--raft-log-backend bolt" B_ARGS="" scripts/bench-keel-ab.sh "put --clients 64 --conns 8 --total 20000"
#
# Environment: A_ARGS, B_ARGS (keeld flags), NAMES (default a,b), ROUNDS (default 3), KEELD_A,
# KEELD_B (binaries, default bin/keeld), OUT (directory for the JSON reports, optional).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
NAMES=${NAMES:-a,b}
make -s build
work=$(mktemp -d /tmp/keel-ab.XXXXXX)
cleanup() {
  scripts/cluster.sh stop "$work/a" || true
  scripts/cluster.sh stop "$work/b" || true
  rm -rf "$work"
}
trap cleanup EXIT
A_EPS=$(KEELD=${KEELD_A:-bin/keeld} EXTRA_ARGS="${A_ARGS:-}" scripts/cluster.sh start keel 12200 "$work/a")
B_EPS=$(KEELD=${KEELD_B:-bin/keeld} EXTRA_ARGS="${B_ARGS:-}" scripts/cluster.sh start keel 12300 "$work/b")
n=0
for w in "$@"; do
  n=$((n + 1))
  json=()
  [ -n "${OUT:-}" ] && mkdir -p "$OUT" && json=(--json "$OUT/ab-$n.json")
  echo "== keelbench $w  (A: ${A_ARGS:-defaults}; B: ${B_ARGS:-defaults})"
  # shellcheck disable=SC2086
  ./bin/keelbench $w --endpoints "$A_EPS" --compare --compare-endpoints "$B_EPS" --names "$NAMES" \
    --rounds "$ROUNDS" --progress=false --histogram=false "${json[@]}"
done

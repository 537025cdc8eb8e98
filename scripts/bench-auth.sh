#!/usr/bin/env bash
# Auth beside etcd (issue 13): starts a 3-member Keel and a 3-member etcd on loopback, gives
# both a root user and a user "bench" with readwrite on the prefix kb-put/, and runs, in
# alternating rounds (keelbench --compare):
#   1. put with auth off (the baseline),
#   2. put as bench with auth on (token resolution and the permission check on every write),
#   3. the auth workload: Authenticate calls as bench (bcrypt at --bcrypt-cost, a raft entry).
# Prints the reports; bench/PERFORMANCE.md "Auth" holds the figures of a run.
#   ROUNDS (default 3), TOTAL (puts per round, default 20000), AUTH_TOTAL (default 300),
#   AUTH_ONLY=1 (only step 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
TOTAL=${TOTAL:-20000}
AUTH_TOTAL=${AUTH_TOTAL:-300}
make -s build
work=$(mktemp -d /tmp/keel-bench-auth.XXXXXX)
cleanup() {
  scripts/cluster.sh stop "$work/keel" || true
  scripts/cluster.sh stop "$work/etcd" || true
  rm -rf "$work"
}
trap cleanup EXIT
KEEL_EPS=$(scripts/cluster.sh start keel "${KEEL_BASE:-12100}" "$work/keel")
ETCD_EPS=$(scripts/cluster.sh start etcd "${ETCD_BASE:-13100}" "$work/etcd")

ctl() { ETCDCTL_API=3 etcdctl --endpoints="$1" "${@:2}" >/dev/null; }
compare() { # workload args...
  bin/keelbench "$1" --endpoints "$KEEL_EPS" --compare --compare-endpoints "$ETCD_EPS" --names keel,etcd \
    --rounds "$ROUNDS" "${@:2}"
}

if [ -z "${AUTH_ONLY:-}" ]; then
  echo "## put, auth off"
  compare put --key-prefix kb-put/ --total "$TOTAL"
fi
for eps in "$KEEL_EPS" "$ETCD_EPS"; do
  ctl "$eps" user add root --new-user-password=rootpw
  ctl "$eps" user grant-role root root
  ctl "$eps" user add bench --new-user-password=benchpw
  ctl "$eps" role add bench
  ctl "$eps" role grant-permission bench --prefix readwrite kb-put/
  ctl "$eps" user grant-role bench bench
  ctl "$eps" auth enable
done
if [ -z "${AUTH_ONLY:-}" ]; then
  echo "## put, auth on, as bench"
  compare put --key-prefix kb-put/ --total "$TOTAL" --user bench:benchpw
fi
echo "## Authenticate, as bench"
compare auth --total "$AUTH_TOTAL" --user bench:benchpw

#!/usr/bin/env bash
# Starts a local 3-member Keel cluster on loopback with etcd's flags.
# Clients: 2379 22379 32379; peers: 2380 22380 32380; data under ./data. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/keeld}
DATA=${DATA:-data}
NAMES=(m0 m1 m2)
CLIENT=(2379 22379 32379)
PEER=(2380 22380 32380)
CLUSTER="m0=http://127.0.0.1:2380,m1=http://127.0.0.1:22380,m2=http://127.0.0.1:32380"
mkdir -p "$DATA"
pids=()
stop() {
  trap - INT TERM
  echo; echo "stopping cluster..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait
  echo "stopped"
}
trap stop INT TERM
for i in 0 1 2; do
  "$BIN" --name "${NAMES[$i]}" --data-dir "$DATA/${NAMES[$i]}" \
    --listen-client-urls "http://127.0.0.1:${CLIENT[$i]}" --advertise-client-urls "http://127.0.0.1:${CLIENT[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${PEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${PEER[$i]}" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token keel-local \
    --log-format text >"$DATA/${NAMES[$i]}.log" 2>&1 &
  pids+=($!)
done
ENDPOINTS="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"
for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:2379/health >/dev/null 2>&1; then break; fi
  sleep 0.1
done
cat <<MSG
Keel cluster running (logs in $DATA/*.log)
  endpoints: $ENDPOINTS
  try:       ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS endpoint status -w table
             ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put foo bar
  metrics:   curl http://127.0.0.1:2379/metrics
Press Ctrl-C to stop.
MSG
wait

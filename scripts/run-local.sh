#!/usr/bin/env bash
# Starts a local 3-member Keel cluster on loopback with etcd's flags, and the orchestrator on
# it: 2 schedulers and 2 controller-managers (one active of each, leader-elected) and 3
# process-mode agents (nodes n1..n3 on 127.0.1.1..3, pods on 127.1.<n>.0/24) that run pods as
# local processes and proxy every Service port on their node address, and one `orch apiserver`
# (https://127.0.0.1:6443, APISERVER_PORT; admin kubeconfig in ./data/apiserver/admin.kubeconfig) for kubectl. Clients: 2379 22379 32379; peers: 2380 22380 32380; data and logs
# under ./data. ORCH=0 starts Keel alone. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/keeld}
ORCH_BIN=${ORCH_BIN:-bin/orch}
ORCH=${ORCH:-1}
DATA=${DATA:-data}
NAMES=(m0 m1 m2)
CLIENT=(2379 22379 32379)
PEER=(2380 22380 32380)
CLUSTER="m0=http://127.0.0.1:2380,m1=http://127.0.0.1:22380,m2=http://127.0.0.1:32380"
mkdir -p "$DATA"
pids=()
orch_pids=()
stop() {
  trap - INT TERM
  echo; echo "stopping..."
  # The orchestrator first (it is a client of the store), then the members.
  for p in "${orch_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${orch_pids[@]}"; do wait "$p" 2>/dev/null || true; done
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
if [ "$ORCH" = 1 ]; then
  for c in scheduler:s1 scheduler:s2 controller-manager:cm1 controller-manager:cm2; do
    "$ORCH_BIN" "${c%%:*}" --endpoints "$ENDPOINTS" --id "${c##*:}" >"$DATA/orch-${c##*:}.log" 2>&1 &
    orch_pids+=($!)
  done
  APISERVER_PORT=${APISERVER_PORT:-6443}
  "$ORCH_BIN" apiserver --endpoints "$ENDPOINTS" --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --cert-dir "$DATA/apiserver" >"$DATA/orch-apiserver.log" 2>&1 &
  orch_pids+=($!)
  # Pods run `orch hello-server` (examples/web.yaml), found on the agents' PATH.
  for i in 1 2 3; do
    PATH="$(cd "$(dirname "$ORCH_BIN")" && pwd):$PATH" "$ORCH_BIN" agent --endpoints "$ENDPOINTS" \
      --runtime process --node "n$i" --address "127.0.1.$i" --pod-cidr "127.1.$i.0/24" \
      --root-dir "$DATA/agent-n$i" --labels "zone=z$i" --stop-pods-on-exit \
      >"$DATA/orch-agent-n$i.log" 2>&1 &
    orch_pids+=($!)
  done
fi
cat <<MSG
Keel cluster running (logs in $DATA/*.log)
  endpoints: $ENDPOINTS
  try:       ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS endpoint status -w table
             ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put foo bar
  metrics:   curl http://127.0.0.1:2379/metrics
MSG
if [ "$ORCH" = 1 ]; then
  cat <<MSG
Orchestrator running: 2 schedulers, 2 controller-managers, 3 process-mode agents (n1..n3)
  apply the example:  $ORCH_BIN ctl apply -f examples/web.yaml
  watch it come up:   $ORCH_BIN ctl get pods -o wide -w
                      $ORCH_BIN ctl rollout status deployment/web
                      $ORCH_BIN ctl get all
  call the Service:   curl http://127.0.1.1:8080/     (any node: 127.0.1.1-3)
  logs of a pod:      $ORCH_BIN ctl logs <pod>
  who leads:          $ORCH_BIN ctl get leases -n kube-system
kubectl (orch apiserver on https://127.0.0.1:$APISERVER_PORT):
  export KUBECONFIG=$(cd "$DATA" && pwd)/apiserver/admin.kubeconfig
  kubectl get nodes; kubectl apply -f examples/web.yaml; kubectl get pods -o wide
MSG
fi
echo "Press Ctrl-C to stop."
wait

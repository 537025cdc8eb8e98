#!/usr/bin/env bash
# The orchestrator scale benchmark: starts a 3-member Keel on loopback, runs
# `orch bench --nodes NODES --replicas REPLICAS` (sim agent, scheduler, ReplicaSet and
# Deployment controllers in the bench process), writes bench/results/ORCH.md with the
# figures, and stops the cluster. Goal: 10,000 pods on 1,000 nodes Running within 60 s.
#
#   scripts/bench-orch.sh                   # 1000 nodes, 10000 replicas, one round
#   ROUNDS=3 scripts/bench-orch.sh          # three rounds, one fresh namespace each
#   EXTERNAL=1 scripts/bench-orch.sh        # every component a separate process
#   EXTERNAL=1 CONTROLLERS=replicaset,deployment,garbagecollector scripts/bench-orch.sh
#                                           # ... with only the in-process bench's controllers
#
# EXTERNAL=1 (make bench-orch-external) starts `orch scheduler`, `orch controller-manager`
# (all its controllers) and `orch agent --runtime sim --nodes NODES` as processes of their own,
# configured as the bench configures its in-process ones (no leader election, log level warn,
# AGENT_WORKERS pod workers, no PodMetrics, BIND_WORKERS, 32 Job workers), then runs
# `orch bench --external`, which reports their CPU seconds and peak RSS (--component-pids).
# Its report goes to $OUT/ORCH-external.md, beside the in-process run's $OUT/ORCH.md.
#
# Environment: NODES (1000), REPLICAS (10000), ROUNDS (1), KEEL_BASE (first client port,
# 14000; below the ephemeral range), OUT (bench/results), BENCH_ARGS (extra orch bench
# flags), PROFILE=1 (CPU profiles and the peak heap of the bench process and of the Keel leader
# into $OUT/orch-prof; the leader's over 30 s from each of PROFILE_AT's offsets in seconds,
# default "15"; PROFILE_WINDOW=30 splits the bench process's profile into one file per 30 s),
# EXTERNAL=1, AGENT_WORKERS (128), BIND_WORKERS (0: the scheduler's default), CONTROLLERS
# (EXTERNAL=1: the controller-manager's --controllers, default '*'; the in-process bench runs
# the equivalent of replicaset,deployment,garbagecollector).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-1000}
REPLICAS=${REPLICAS:-10000}
ROUNDS=${ROUNDS:-1}
KEEL_BASE=${KEEL_BASE:-14000}
OUT=${OUT:-bench/results}
BENCH_ARGS=${BENCH_ARGS:-}
PROFILE=${PROFILE:-}
PROFILE_AT=${PROFILE_AT:-15}
EXTERNAL=${EXTERNAL:-}
AGENT_WORKERS=${AGENT_WORKERS:-128}
BIND_WORKERS=${BIND_WORKERS:-0}
CONTROLLERS=${CONTROLLERS:-*}
PROFILE_WINDOW=${PROFILE_WINDOW:-}

make -s build
mkdir -p "$OUT"
work=$(mktemp -d /tmp/keel-orch-bench.XXXXXX)
comp_pids=() # the external components' pids, stopped before the cluster
cleanup() {
  local p
  for p in "${comp_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${comp_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # Their logs (level warn) are empty in a clean run.
  for p in "$work"/*.log; do
    [ -s "$p" ] && { echo "--- $(basename "$p") (last lines)" >&2; tail -n 5 "$p" >&2; }
  done
  scripts/cluster.sh stop "$work/keel" || true
  rm -rf "$work"
}
trap cleanup EXIT

extra=""
[ -n "$PROFILE" ] && extra="--enable-pprof"
EPS=$(EXTRA_ARGS="$extra" scripts/cluster.sh start keel "$KEEL_BASE" "$work/keel")
echo "keel: $EPS" >&2

component_pids=""
if [ -n "$EXTERNAL" ]; then
  # The in-process bench runs these without leader election, at log level warn, with
  # --agent-workers, --bind-workers, no PodMetrics and 32 Job workers (bench.go, bench_jobs.go).
  common=(--endpoints "$EPS" --log-level warn)
  start_component() { # NAME ARGS...
    local name=$1; shift
    bin/orch "$@" "${common[@]}" >"$work/$name.log" 2>&1 &
    comp_pids+=($!)
    component_pids+="${component_pids:+,}$name=$!"
  }
  start_component scheduler scheduler --leader-elect=false --bind-workers "$BIND_WORKERS"
  start_component controller-manager controller-manager --leader-elect=false --concurrent-job-syncs 32 \
    --controllers "$CONTROLLERS"
  start_component agent agent --node bench-node --nodes "$NODES" --runtime sim \
    --workers "$AGENT_WORKERS" --metrics-interval 0
  sleep 1 # a component that cannot start (a flag, the endpoints) exits within it
  for p in "${comp_pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a component exited at start" >&2; exit 1; }
  done
  echo "components: $component_pids" >&2
fi

# leader prints the client endpoint of the current store leader (etcd_server_is_leader).
leader() {
  local ep
  for ep in ${EPS//,/ }; do
    if curl -fsS "http://$ep/metrics" 2>/dev/null | grep -q '^etcd_server_is_leader 1'; then
      echo "$ep"; return
    fi
  done
  echo "${EPS%%,*}"
}

results=()
for round in $(seq 1 "$ROUNDS"); do
  args=(bench --endpoints "$EPS" --nodes "$NODES" --replicas "$REPLICAS" --json)
  # The members' peak RSS and CPU seconds (read from /proc by the bench).
  args+=(--member-pids "$(paste -sd, "$work/keel/pids")")
  if [ -n "$EXTERNAL" ]; then
    args+=(--external --component-pids "$component_pids")
  else
    args+=(--agent-workers "$AGENT_WORKERS" --bind-workers "$BIND_WORKERS")
  fi
  prof_pid=""
  if [ -n "$PROFILE" ]; then
    mkdir -p "$OUT/orch-prof"
    args+=(--cpuprofile "$OUT/orch-prof/bench-$round.pprof" --memprofile "$OUT/orch-prof/bench-heap-$round.pprof")
    [ -n "$PROFILE_WINDOW" ] && args+=(--cpuprofile-window "${PROFILE_WINDOW}s")
    # The store leader's profile over the same minute (the bench's measured period starts
    # after node registration, ~10-20 s in).
    lead=$(leader)
    # Later offsets (PROFILE_AT="15 200") show what grows with the objects stored.
    (prev=0; for at in $PROFILE_AT; do
      sleep $((at - prev)); prev=$((at + 30))
      suffix=""; [ "$at" = "15" ] || suffix="-at$at"
      curl -fsS -o "$OUT/orch-prof/keeld-leader-$round$suffix.pprof" "http://$lead/debug/pprof/profile?seconds=30" || true
    done) &
    prof_pid=$!
  fi
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  # shellcheck disable=SC2086
  bin/orch "${args[@]}" $BENCH_ARGS >"$work/round-$round.json" || true
  # Other work on the machine skews the figures: keep the load averages beside them.
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["load_before"]=sys.argv[2]; d["load_after"]=sys.argv[3]; json.dump(d,open(sys.argv[1],"w"))' \
    "$work/round-$round.json" "$load" "$(cut -d' ' -f1-3 /proc/loadavg)" || true
  [ -n "$prof_pid" ] && wait "$prof_pid" || true
  cat "$work/round-$round.json" >&2; echo >&2
  results+=("$work/round-$round.json")
done

report=$OUT/ORCH.md
[ -n "$EXTERNAL" ] && report=$OUT/ORCH-external.md
python3 - "$report" "$NODES" "$REPLICAS" "${EXTERNAL:+external}" "$CONTROLLERS" "${results[@]}" <<'EOF'
import json, os, subprocess, sys, datetime
out, nodes, replicas, external, controllers, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "external", sys.argv[5], sys.argv[6:]
rows = []
for f in files:
    try:
        rows.append(json.load(open(f)))
    except Exception as e:  # a crashed round
        rows.append({"error": "no result: %s" % e})
cores = os.cpu_count()
mem = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = int(line.split()[1]) / 1048576
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
if rev and subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip():
    rev += " + uncommitted changes"
def g(r, k, fmt="%.1f"):
    v = r.get(k)
    return "–" if v is None else (fmt % v)
when = "on %s UTC at %s — %d cores, %.0f GiB." % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), rev or "?", cores, mem)
if external:
    head = [
        "# Orchestrator scale benchmark, every component a separate process",
        "",
        "Generated by `make bench-orch-external` (EXTERNAL=1 scripts/bench-orch.sh) " + when,
        "A 3-member Keel on loopback (scripts/cluster.sh, default flags); `orch scheduler`, `orch controller-manager`",
        "(--controllers %s) and `orch agent --runtime sim` (%s nodes, cpu=32, memory=256Gi, pods=110 each) run as" % (controllers, nodes),
        "processes of their own, without leader election, all clientv3 clients of the cluster; `orch bench --external`",
        "waits for the nodes to be Ready, creates one Deployment of %s replicas (10m cpu / 10Mi each) and follows" % replicas,
        "the pods through a watch until all are Running.",
    ]
else:
    head = [
        "# Orchestrator scale benchmark",
        "",
        "Generated by `make bench-orch` (scripts/bench-orch.sh) " + when,
        "A 3-member Keel on loopback (scripts/cluster.sh, default flags); one `orch bench` process holds the sim",
        "agent (%s nodes, cpu=32, memory=256Gi, pods=110 each), the scheduler and the ReplicaSet and Deployment" % nodes,
        "controllers, all clientv3 clients of the cluster. After the nodes are Ready it creates one Deployment of",
        "%s replicas (10m cpu / 10Mi each) and follows the pods through a watch until all are Running." % replicas,
    ]
lines = head + [
    "Goal: every pod Running within 60 s of the apply (≥ ~167 pods/s end to end).",
    "",
    "| round | all created | all scheduled | all Running | scheduled pods/s avg / peak | Running pods/s avg / peak | create→Running p50 / p99 | store revisions/s | raft proposals/s | pod writes/s | load avg before → after | goal |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]
for i, r in enumerate(rows, 1):
    if "running_seconds" not in r:
        lines.append("| %d | %s |" % (i, r.get("error", "?")))
        continue
    lines.append("| %d | %s s | %s s | %s s (%d/%d) | %s / %s | %s / %s | %s / %s ms | %s | %s | %s | %s | %s |" % (
        i, g(r, "created_seconds", "%.2f"), g(r, "scheduled_seconds", "%.2f"), g(r, "running_seconds", "%.2f"),
        r.get("running", 0), r.get("replicas", 0),
        g(r, "scheduled_per_second", "%.0f"), g(r, "scheduled_peak_per_second", "%.0f"),
        g(r, "running_per_second", "%.0f"), g(r, "running_peak_per_second", "%.0f"),
        g(r, "startup_p50_ms", "%.0f"), g(r, "startup_p99_ms", "%.0f"),
        g(r, "store_revisions_per_second", "%.0f"), g(r, "proposals_committed_per_second", "%.0f"),
        g(r, "pod_writes_per_second", "%.0f"),
        "%s → %s" % (r.get("load_before", "?"), r.get("load_after", "?")),
        "met" if r.get("goal_met") else "missed" + (" (%s)" % r["error"] if r.get("error") else "")))
for i, r in enumerate(rows, 1):
    th = r.get("running_per_second_thirds")
    if th:
        procs = "; ".join("%s %.0f MiB peak RSS, %.1f CPU s" % (p["name"], p["peak_rss_bytes"] / 1048576, p["cpu_seconds"])
                          for p in r.get("processes", []))
        lines += ["", "Round %d: Running pods/s early / middle / late third %.0f / %.0f / %.0f; db size %.0f MiB; %s." % (
            i, th[0], th[1], th[2], r.get("db_size_bytes", 0) / 1048576, procs)]
for i, r in enumerate(rows, 1):
    j = r.get("jobs")
    if j:  # BENCH_ARGS="--jobs N --job-completions M"
        lines += ["", "Round %d Jobs: %d Jobs of %d completions, all Complete %s s after the first was created (%d pods Succeeded, %s pods/s)." % (
            i, j.get("jobs", 0), j.get("completions", 0), g(j, "complete_seconds", "%.2f"), j.get("pods_succeeded", 0), g(j, "pods_succeeded_per_second", "%.0f"))]
lines += ["", ("Nodes Ready after the bench's start (the agent started 1 s before it): " if external else "Nodes Ready after registration: ") + ", ".join(g(r, "nodes_ready_seconds") + " s" for r in rows if "running_seconds" in r) + ".",
          "", "Raw results (orch bench --json):", "", "```json"]
lines += [json.dumps(r, indent=2) for r in rows]
lines += ["```", ""]
# Hand-written notes below the marker survive regeneration.
marker = "<!-- notes: kept by scripts/bench-orch.sh -->"
try:
    prev = open(out).read()
    if marker in prev:
        lines += [marker + prev.split(marker, 1)[1].rstrip("\n"), ""]
except FileNotFoundError:
    pass
open(out, "w").write("\n".join(lines))
print("wrote", out, file=sys.stderr)
EOF

#!/usr/bin/env bash
# Starts a 3-member cluster of keeld or etcd on loopback with etcd's flags and waits until it
# serves; used by the benchmarks to run both side by side with the same client.
#   scripts/cluster.sh start keel|etcd BASEPORT DATADIR   (clients BASEPORT, +10, +20; peers +1)
#   scripts/cluster.sh stop DATADIR
# EXTRA_ARGS are appended to every member's flags; PPROF=1 adds --enable-pprof (both keeld and etcd then serve
# /debug/pprof on their client URLs, for keelbench --pprof-dir). start prints the client endpoints on stdout;
# member pids go to DATADIR/pids.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop}
case "$cmd" in
stop)
  dir=${2:?datadir}
  if [ -f "$dir/pids" ]; then
    while read -r p; do kill -TERM "$p" 2>/dev/null || true; done <"$dir/pids"
    while read -r p; do
      for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$p" 2>/dev/null || true
    done <"$dir/pids"
    rm -f "$dir/pids"
  fi
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start keel|etcd BASEPORT DATADIR | stop DATADIR" >&2; exit 2 ;;
esac
kind=${2:?keel|etcd}; base=${3:?baseport}; dir=${4:?datadir}
case "$kind" in
keel) bin=${KEELD:-bin/keeld} ;;
etcd) bin=${ETCD:-$(command -v etcd)} ;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac
extra=${EXTRA_ARGS:-}
if [ "${PPROF:-}" = 1 ]; then extra+=" --enable-pprof"; fi
mkdir -p "$dir"
: >"$dir/pids"
cluster=""; eps=()
for i in 0 1 2; do
  cluster+="${cluster:+,}b$i=http://127.0.0.1:$((base + 10 * i + 1))"
  eps+=("127.0.0.1:$((base + 10 * i))")
done
for i in 0 1 2; do
  c=$((base + 10 * i)); p=$((c + 1))
  "$bin" --name "b$i" --data-dir "$dir/b$i" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$kind-$base" \
    $extra >"$dir/b$i.log" 2>&1 &
  echo $! >>"$dir/pids"
done
# health GETs http://HOST:PORT/health, with curl if present, else bash's /dev/tcp.
health() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS "http://$1/health" 2>/dev/null
    return
  fi
  local host=${1%:*} port=${1##*:}
  (exec 3<>"/dev/tcp/$host/$port" && printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3 && cat <&3) 2>/dev/null
}
for ep in "${eps[@]}"; do
  ok=""
  for _ in $(seq 1 300); do
    if health "$ep" | grep -q '"health":"true"'; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "$kind member $ep did not become healthy; see $dir/*.log" >&2; exit 1; }
done
IFS=,; echo "${eps[*]}"

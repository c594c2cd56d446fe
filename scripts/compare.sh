#!/usr/bin/env bash
# Compares Berth with CNCF Distribution (Debian's docker-registry, 2.8) on this machine: the same
# berth-bench scenarios against both, in alternating rounds, each server fresh for each round,
# then one markdown table of medians and Berth/Distribution ratios. See docs/benchmarks.md.
#
#   ./scripts/compare.sh                          # 3 rounds of 15 s per scenario (about 40 min)
#   DURATION=3s ROUNDS=1 ./scripts/compare.sh     # a quick check that everything works
#   ./scripts/compare.sh --duration 5s --rounds 3 --only 'pull-blob|manifest'
#
# Settings (flag or environment variable):
#   --duration / DURATION        timed phase of each scenario (default 15s)
#   --rounds / ROUNDS            rounds; servers alternate which goes first (default 3)
#   --tags / TAGS                tags in the tags-list repository (default 5000)
#   --only / ONLY                extended regex: run only scenarios whose arguments match
#   --client-threads / CLIENT_THREADS   berth-bench client threads (default 1)
#   --out / OUT                  directory for results and logs (default: a new temp dir)
#   BERTH_BIN                    a berth binary to use instead of building one
# Exit status: 0 when every run verified cleanly, 1 otherwise (the table is printed anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
TAGS=${TAGS:-5000}
ONLY=${ONLY:-}
CLIENT_THREADS=${CLIENT_THREADS:-1}
OUT=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --tags) TAGS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --client-threads) CLIENT_THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# The scenarios, with the issue's target parameters (each scenario's defaults; see
# `berth-bench <scenario> --help`). Each line is one berth-bench invocation's arguments.
SCENARIOS=(
  "push-mono --size 64MiB"
  "push-chunked --size 64MiB --chunk 8MiB"
  "pull-blob --size 4KiB -c 64"
  "pull-blob --size 1MiB -c 64"
  "pull-blob --size 64MiB -c 16"
  "pull-range --size 64MiB --range 1MiB -c 16"
  "manifest-get -c 64"
  "manifest-head -c 64"
  "tags-list --tags $TAGS"
  "tags-list --tags $TAGS --page-size 100"
  "image-pull -c 64"
  "mixed -c 64"
)

# --- what the comparison needs -------------------------------------------------------------
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need+=(libclang-dev)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  # The package's service is not wanted (and cannot start without systemd anyway).
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Built one at a time: together, cargo would unify their features into a third build.
# BERTH_BIN=path uses an already built berth instead (e.g. another commit's).
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release --locked -p berth
  BERTH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
fi
cargo build --release --locked -p berth-bench
BERTH=$BERTH_BIN
BENCH=${CARGO_TARGET_DIR:-$PWD/target}/release/berth-bench
REGISTRY=/usr/bin/docker-registry

if [ -z "$OUT" ]; then OUT=$(mktemp -d -t berth-compare.XXXXXX); fi
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# --- servers ------------------------------------------------------------------------------
SERVER_PID=""
SERVER_URL=""
SERVER_DIR=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [ -n "$SERVER_DIR" ]; then rm -rf "$SERVER_DIR/data"; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

start_berth() { # $1: directory for this server's data, config and log
  SERVER_DIR=$1
  mkdir -p "$SERVER_DIR"
  printf '[auth]\nenabled = false\n[log]\naccess_log = false\nlevel = "warn"\n' > "$SERVER_DIR/berth.toml"
  env -u RUST_LOG "$BERTH" serve --listen 127.0.0.1:0 --data-dir "$SERVER_DIR/data" \
    --config "$SERVER_DIR/berth.toml" >"$SERVER_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    [ -s "$SERVER_DIR/data/listen.addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_DIR/server.log" >&2; return 1; }
    sleep 0.1
  done
  SERVER_URL="http://$(cat "$SERVER_DIR/data/listen.addr")"
  "$BENCH" wait -r "$SERVER_URL" --timeout 30s
}

free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 10000))
    if [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then echo "$port"; return; fi
  done
  echo "compare.sh: no free port found" >&2
  return 1
}

start_distribution() { # $1: directory for this server's data, config and log
  SERVER_DIR=$1
  mkdir -p "$SERVER_DIR/data"
  local port
  port=$(free_port)
  cat > "$SERVER_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $SERVER_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: berth-bench-comparison
EOF
  GOMAXPROCS=2 "$REGISTRY" serve "$SERVER_DIR/config.yml" >"$SERVER_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  SERVER_URL="http://127.0.0.1:$port"
  "$BENCH" wait -r "$SERVER_URL" --timeout 30s
}

# --- the machine --------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "distribution: $("$REGISTRY" --version 2>/dev/null | head -1)"
  echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel: $(uname -r)"
  free -h | sed -n 2p | awk '{print "memory: " $2 " total, " $7 " available"}'
  echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS TAGS=$TAGS CLIENT_THREADS=$CLIENT_THREADS ONLY=${ONLY:-all}"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "load average before: $load"
} | tee "$OUT/machine.txt"

# --- rounds -------------------------------------------------------------------------------
failed_runs=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order=(berth distribution); else order=(distribution berth); fi
  for server in "${order[@]}"; do
    echo "== round $round/$ROUNDS: $server"
    "start_$server" "$OUT/round$round/$server"
    for scenario in "${SCENARIOS[@]}"; do
      if [ -n "$ONLY" ] && ! [[ $scenario =~ $ONLY ]]; then continue; fi
      status=0
      # shellcheck disable=SC2086 # each scenario line is a list of arguments
      "$BENCH" -r "$SERVER_URL" --server-pid "$SERVER_PID" --server-name "$server" \
        --round "$round" --duration "$DURATION" --client-threads "$CLIENT_THREADS" --json \
        $scenario >>"$RESULTS" || status=$?
      # 0: clean; 2: verification errors (counted in the results); 3: unsupported (noted).
      case $status in
        0|3) ;;
        2) failed_runs+=("round $round $server: $scenario: verification errors") ;;
        *) failed_runs+=("round $round $server: $scenario: berth-bench exit $status") ;;
      esac
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        failed_runs+=("round $round $server: the server died during: $scenario")
        echo "compare.sh: $server died; its log:" >&2
        tail -20 "$OUT/round$round/$server/server.log" >&2
        "start_$server" "$OUT/round$round/$server-restarted"
      fi
    done
    stop_server
    # A server that logged warnings or errors did something worth reading.
    # Distribution logs every 404 as an error, including the HEAD a push makes to see whether a
    # blob is there; those are expected.
    logged=$(grep -hE '(WARN|ERROR|level=(warning|error|fatal|panic))' "$OUT/round$round/$server"*/server.log 2>/dev/null |
      grep -vE 'http.request.method=HEAD .*http.response.status=404' | head -5 || true)
    if [ -n "$logged" ]; then
      echo "note: $server logged warnings or errors in round $round (see $OUT/round$round/$server/server.log):"
      echo "$logged"
    fi
  done
done

# --- the table ----------------------------------------------------------------------------
echo
"$BENCH" compare --a berth --b distribution "$RESULTS" | tee "$OUT/comparison.md"
echo
echo "results: $RESULTS"
echo "table:   $OUT/comparison.md"
if [ ${#failed_runs[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${failed_runs[@]}"
  exit 1
fi

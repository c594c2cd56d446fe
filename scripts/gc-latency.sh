#!/usr/bin/env bash
# Pull latency while garbage collection runs: berth-bench's pull scenarios against Berth without
# background GC and with it (berth-bench --background-gc: a collection in flight through the
# whole timed phase, at the default rate limit and unlimited), in rotating rounds, then one
# markdown table of medians and p99 ratios. See docs/benchmarks.md.
#
# Modes: "no GC" (the baseline); "no GC + garbage" (the same garbage pushed in setup, nothing
# collected: a control for what the pushes alone leave behind); "GC <OPS_PER_S> ops/s";
# "GC unlimited" ([gc] ops_per_s = 0).
#
#   ./scripts/gc-latency.sh                        # 3 rounds × 2 scenarios × 4 modes × 10 s
#   DURATION=3s ROUNDS=1 ./scripts/gc-latency.sh   # a quick check that everything works
#
# Settings (flag or environment variable):
#   --duration / DURATION        timed phase of each run (default 10s)
#   --rounds / ROUNDS            rounds; each rotates the order of the modes (default 3)
#   --concurrency / CONCURRENCY  pull workers (default 32)
#   --ops-per-s / OPS_PER_S      [gc] ops_per_s of the rate-limited mode (default 1000)
#   --garbage / GARBAGE          unreferenced 4 KiB blobs pushed before each GC run's timed
#                                phase (default: enough for one collection to last the phase;
#                                rate-limited: OPS_PER_S / 3 per second of DURATION, plus the
#                                throttle's one-second burst, plus 10%; unlimited: 1000 per
#                                second, above the 500–700 measured on a 2-core VM)
#   --refill / REFILL            blobs pushed between collections if the first one ends
#                                inside the phase (default 2000)
#   --out / OUT                  directory for results and logs (default: a new temp dir)
#   BERTH_BIN                    a berth binary to use instead of building one
# Every mode of a round runs its own daemon process on the round's data directory, configured
# with [gc] interval_s = 0 (no scheduled runs), grace_period_s = 0, [scrub] interval_s = 0.
# Exit status: 0 when every run verified cleanly, 1 otherwise (the table is printed anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-32}
OPS_PER_S=${OPS_PER_S:-1000}
GARBAGE=${GARBAGE:-}
REFILL=${REFILL:-2000}
OUT=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --ops-per-s) OPS_PER_S=$2; shift 2 ;;
    --garbage) GARBAGE=$2; shift 2 ;;
    --refill) REFILL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gc-latency.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

duration_s() { # 10s, 500ms, 2m → whole seconds, at least 1
  case "$1" in
    *ms) echo $(( (${1%ms} + 999) / 1000 )) ;;
    *s) echo "${1%s}" ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *) echo "$1" ;;
  esac
}
# Berth's collector spends three paced writer jobs on each unreferenced blob (its repository
# link, its row, its file), and its throttle starts with one second's worth of jobs.
phase_s=$(duration_s "$DURATION")
garbage_for() { # $1: mode
  if [ -n "$GARBAGE" ]; then echo "$GARBAGE"; return; fi
  case "$1" in
    "GC unlimited") echo $(( 1000 * phase_s )) ;;
    *) echo $(( OPS_PER_S * (phase_s + 1) / 3 * 11 / 10 )) ;;
  esac
}

SCENARIOS=(
  "pull-blob --size 4KiB"
  "manifest-get"
)
# Mode name (the results' server name) → [gc] ops_per_s of its daemon; "no GC" collects nothing.
MODES=("no GC" "no GC + garbage" "GC $OPS_PER_S ops/s" "GC unlimited")
mode_ops_per_s() {
  case "$1" in
    "GC unlimited") echo 0 ;;
    *) echo "$OPS_PER_S" ;;
  esac
}

# Built one at a time: together, cargo would unify their features into a third build.
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release --locked --bin berth
  BERTH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
fi
cargo build --release --locked -p berth-bench
BERTH=$BERTH_BIN
BENCH=${CARGO_TARGET_DIR:-$PWD/target}/release/berth-bench

if [ -z "$OUT" ]; then OUT=$(mktemp -d -t berth-gc-latency.XXXXXX); fi
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# --- the daemon ---------------------------------------------------------------------------
SERVER_PID=""
SERVER_URL=""
DATA_DIR=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_berth() { # $1: directory for config and log, $2: [gc] ops_per_s
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/berth.toml" <<EOF
[auth]
enabled = false

[log]
access_log = false
level = "warn"

[gc]
interval_s = 0
grace_period_s = 0
ops_per_s = $2

[scrub]
interval_s = 0
EOF
  rm -f "$DATA_DIR/listen.addr"
  env -u RUST_LOG "$BERTH" serve --listen 127.0.0.1:0 --data-dir "$DATA_DIR" \
    --config "$dir/berth.toml" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    [ -s "$DATA_DIR/listen.addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; return 1; }
    sleep 0.1
  done
  SERVER_URL="http://$(cat "$DATA_DIR/listen.addr")"
  "$BENCH" wait -r "$SERVER_URL" --timeout 30s
}

# --- the machine --------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "work tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "berth binary: $BERTH ($(date -u -r "$BERTH" +%Y-%m-%dT%H:%M:%SZ))"
  echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel: $(uname -r)"
  free -h | sed -n 2p | awk '{print "memory: " $2 " total, " $7 " available"}'
  echo "data file system: $(df -hT "$OUT" | awk 'NR==2 {print $2 " (" $1 ")"}')"
  echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS CONCURRENCY=$CONCURRENCY OPS_PER_S=$OPS_PER_S GARBAGE=$(garbage_for "GC $OPS_PER_S ops/s")/$(garbage_for "GC unlimited") REFILL=$REFILL"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

# --- rounds -------------------------------------------------------------------------------
failed_runs=()
for round in $(seq 1 "$ROUNDS"); do
  DATA_DIR=$OUT/round$round/data
  # Rotate the modes, so that none always runs first (on the emptiest store) or last.
  order=()
  for i in "${!MODES[@]}"; do order+=("${MODES[$(( (i + round - 1) % ${#MODES[@]} ))]}"); done
  for mode in "${order[@]}"; do
    echo "== round $round/$ROUNDS: $mode"
    dir="$OUT/round$round/${mode// /-}"
    start_berth "$dir" "$(mode_ops_per_s "$mode")"
    gc_args=()
    case "$mode" in
      "no GC") ;;
      "no GC + garbage") gc_args=(--background-gc "$(garbage_for "$mode")" --gc-idle) ;;
      *) gc_args=(--background-gc "$(garbage_for "$mode")" --gc-refill-blobs "$REFILL") ;;
    esac
    for scenario in "${SCENARIOS[@]}"; do
      status=0
      # shellcheck disable=SC2086 # each scenario line is a list of arguments
      "$BENCH" -r "$SERVER_URL" --server-pid "$SERVER_PID" --server-name "$mode" \
        --round "$round" --duration "$DURATION" -c "$CONCURRENCY" --json "${gc_args[@]}" \
        $scenario >>"$RESULTS" 2>"$dir/last.log" || status=$?
      cat "$dir/last.log" >>"$dir/bench.log"
      grep -vE '^background gc: (pushed|a collection before)' "$dir/last.log" || true
      case $status in
        0) ;;
        2) failed_runs+=("round $round $mode: $scenario: verification errors") ;;
        *) failed_runs+=("round $round $mode: $scenario: berth-bench exit $status (see $dir/bench.log)") ;;
      esac
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        failed_runs+=("round $round $mode: the daemon died during: $scenario")
        tail -20 "$dir/server.log" >&2
        start_berth "$dir-restarted" "$(mode_ops_per_s "$mode")"
      fi
    done
    stop_server
    logged=$(grep -hE 'WARN|ERROR' "$dir"*/server.log 2>/dev/null | head -5 || true)
    if [ -n "$logged" ]; then
      echo "note: berth logged warnings or errors in round $round, $mode (see $dir/server.log):"
      echo "$logged"
    fi
  done
  rm -rf "$DATA_DIR"
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

# --- the table ----------------------------------------------------------------------------
echo
"$BENCH" gc-report --baseline "no GC" "$RESULTS" | tee "$OUT/gc-latency.md"
echo
echo "results: $RESULTS"
echo "table:   $OUT/gc-latency.md"
if [ ${#failed_runs[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${failed_runs[@]}"
  exit 1
fi

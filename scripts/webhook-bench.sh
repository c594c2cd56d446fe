#!/usr/bin/env bash
# What webhook triggers cost a push, and how fast deliveries go (issue #10). See
# docs/benchmarks.md, "Webhooks".
#
# Push: berth-bench's tag-push scenario (one manifest PUT under a new tag per operation) against
# a fresh daemon with 0 triggers on the repository and with TRIGGERS ALL triggers pointing at a
# receiver that answers after DELAY_MS, in ROUNDS rounds that alternate which mode runs first.
# Reports push ops/s and p99 per mode, their medians over the rounds and the ratio (target:
# within 5%). Delivery: one trigger to a receiver that answers at once, EVENTS tags pushed as
# fast as the bench can, then a wait until the receiver has them all; reports events/s between
# the first and the last receipt and the latency from acknowledgement (the record's at_ms, the
# push's write time) to receipt (the receiver's clock: the same machine) at p50/p99.
#
#   ./scripts/webhook-bench.sh                        # 3 rounds × 2 modes × 10 s, then delivery
#   DURATION=3s ROUNDS=1 ./scripts/webhook-bench.sh   # a quick check that everything works
#
# Settings (environment variables):
#   DURATION          timed phase of each push run (default 10s)
#   ROUNDS            rounds of the push comparison (default 3)
#   CONCURRENCY       push workers (default 16)
#   TRIGGERS          triggers of the second mode (default 10)
#   DELAY_MS          the slow receiver's answer delay (default 200)
#   EVENTS            tags pushed in the delivery measurement (default 2000)
#   PACED             tags then pushed one at a time by curl, 20 ms apart, for the latency of
#                     a receiver that keeps up (default 200)
#   DEST_IN_FLIGHT    [webhooks] destination_in_flight_max of the delivery daemon (default 16;
#                     the push modes keep the default, 4)
#   OUT               directory for results and logs (default: a new temp dir)
#   BERTH_BIN, BENCH_BIN  binaries to use instead of building them
# Access control is off ([auth] enabled = false); [webhooks] allow_private_destinations = true
# lets the triggers point at the loopback receiver; no GC or scrub runs.
# Exit status: 0 when every push verified and every event arrived, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-16}
TRIGGERS=${TRIGGERS:-10}
DELAY_MS=${DELAY_MS:-200}
EVENTS=${EVENTS:-2000}
PACED=${PACED:-200}
DEST_IN_FLIGHT=${DEST_IN_FLIGHT:-16}
OUT=${OUT:-}
case "${1:-}" in
  -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  "") ;;
  *) echo "webhook-bench.sh: settings are environment variables (see --help)" >&2; exit 2 ;;
esac

# Built one at a time: together, cargo would unify their features into a third build.
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release --locked --bin berth
  BERTH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
fi
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --locked -p berth-bench
  BENCH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/berth-bench
fi
BERTH=$BERTH_BIN
BENCH=$BENCH_BIN
RECEIVER_PY=$PWD/scripts/webhook-receiver.py

if [ -z "$OUT" ]; then OUT=$(mktemp -d -t berth-webhook-bench.XXXXXX); fi
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# --- the daemon and the receiver -----------------------------------------------------------
SERVER_PID=""
SERVER_URL=""
DATA_DIR=""
RECEIVER_PID=""
RECEIVER_URL=""

stop_pid() { # $1: pid
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }
stop_receiver() { stop_pid "$RECEIVER_PID"; RECEIVER_PID=""; }
cleanup() {
  stop_server
  stop_receiver
  if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_berth() { # $1: directory for config and log, $2: destination_in_flight_max
  local dir=$1
  mkdir -p "$dir"
  DATA_DIR=$dir/data
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  cat > "$dir/berth.toml" <<TOML
[auth]
enabled = false

[log]
access_log = false
level = "warn"

[gc]
interval_s = 0

[scrub]
interval_s = 0

[webhooks]
allow_private_destinations = true
destination_in_flight_max = $2
TOML
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

start_receiver() { # $1: directory, $2: delay in ms
  local dir=$1
  rm -f "$dir/receiver.port"
  python3 "$RECEIVER_PY" --delay-ms "$2" --port-file "$dir/receiver.port" \
    --out "$dir/receiver.json" 2>"$dir/receiver.log" &
  RECEIVER_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$dir/receiver.port" ] && break
    kill -0 "$RECEIVER_PID" 2>/dev/null || { cat "$dir/receiver.log" >&2; return 1; }
    sleep 0.1
  done
  RECEIVER_URL="http://127.0.0.1:$(cat "$dir/receiver.port")"
}

cpu_s() { # $1: pid → utime + stime in seconds (Linux /proc)
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# --- the machine --------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "work tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "memory (free -g): $(free -g | awk 'NR==2 {print $2 " GiB total, " $7 " GiB available"}')"
  echo "python: $(python3 --version 2>&1)"
  echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS CONCURRENCY=$CONCURRENCY TRIGGERS=$TRIGGERS DELAY_MS=$DELAY_MS EVENTS=$EVENTS DEST_IN_FLIGHT=$DEST_IN_FLIGHT"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

failed=()

# --- push: 0 triggers vs TRIGGERS triggers to a slow receiver -------------------------------
MODES=("0 triggers" "$TRIGGERS triggers")
for round in $(seq 1 "$ROUNDS"); do
  order=("${MODES[@]}")
  if [ $((round % 2)) -eq 0 ]; then order=("${MODES[1]}" "${MODES[0]}"); fi
  for mode in "${order[@]}"; do
    echo "== round $round/$ROUNDS: $mode"
    dir="$OUT/round$round/${mode// /-}"
    start_berth "$dir" 4
    trigger_args=()
    if [ "$mode" != "0 triggers" ]; then
      start_receiver "$dir" "$DELAY_MS"
      trigger_args=(--triggers "$TRIGGERS" --receiver "$RECEIVER_URL/hook")
    fi
    receiver_cpu_before=0
    if [ -n "$RECEIVER_PID" ]; then receiver_cpu_before=$(cpu_s "$RECEIVER_PID"); fi
    status=0
    "$BENCH" -r "$SERVER_URL" --server-pid "$SERVER_PID" --server-name "$mode" \
      --round "$round" --repo-prefix bench --duration "$DURATION" -c "$CONCURRENCY" --json \
      tag-push "${trigger_args[@]}" >"$dir/result.json" 2>"$dir/bench.log" || status=$?
    cat "$dir/bench.log"
    curl -sf "$SERVER_URL/api/v1/admin/stats" >"$dir/admin-stats.json" || true
    receiver_cpu_s=null
    if [ -n "$RECEIVER_PID" ]; then
      # Setup and the timed phase: an upper bound of the receiver's share of the timed phase.
      receiver_cpu_s=$(awk -v a="$(cpu_s "$RECEIVER_PID")" -v b="$receiver_cpu_before" 'BEGIN {print a - b}')
      received=$(curl -sf "$RECEIVER_URL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' || echo '?')
      echo "   receiver: $received requests so far, $receiver_cpu_s CPU s"
    fi
    python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); r["receiver_cpu_s"]=json.loads(sys.argv[2]); print(json.dumps(r))' \
      "$dir/result.json" "$receiver_cpu_s" >>"$RESULTS"
    [ $status -eq 0 ] || failed+=("round $round $mode: berth-bench exit $status (see $dir/bench.log)")
    kill -0 "$SERVER_PID" 2>/dev/null || failed+=("round $round $mode: the daemon died")
    stop_server
    stop_receiver
    logged=$(grep -E 'WARN|ERROR' "$dir/server.log" | head -3 || true)
    if [ -n "$logged" ]; then echo "note: berth logged (see $dir/server.log):"; echo "$logged"; fi
    rm -rf "$DATA_DIR"
  done
done

# --- delivery: 1 trigger to a fast receiver --------------------------------------------------
echo "== delivery: $EVENTS tags, 1 trigger, receiver without delay"
dir="$OUT/delivery"
start_berth "$dir" "$DEST_IN_FLIGHT"
start_receiver "$dir" 0
receiver_cpu_before=$(cpu_s "$RECEIVER_PID")
server_cpu_before=$(cpu_s "$SERVER_PID")
started_ns=$(date +%s%N)
status=0
"$BENCH" -r "$SERVER_URL" --server-pid "$SERVER_PID" --server-name delivery --repo-prefix bench \
  --duration 600s -n "$EVENTS" -c "$CONCURRENCY" --json \
  tag-push --triggers 1 --receiver "$RECEIVER_URL/hook" >"$dir/result.json" 2>"$dir/bench.log" || status=$?
cat "$dir/bench.log"
[ $status -eq 0 ] || failed+=("delivery: berth-bench exit $status (see $dir/bench.log)")
# The setup's tag (`base`) was pushed before the trigger existed: EVENTS events are due.
wait_distinct() { # $1: distinct events to wait for (at most 120 s)
  local got=0
  for _ in $(seq 1 1200); do
    got=$(curl -sf "$RECEIVER_URL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["distinct"])' || echo 0)
    [ "$got" -ge "$1" ] && break
    sleep 0.1
  done
  echo "$got"
}
received=$(wait_distinct "$EVENTS")
wall_s=$(awk -v a="$(date +%s%N)" -v b="$started_ns" 'BEGIN {print (a - b) / 1e9}')
receiver_cpu_s=$(awk -v a="$(cpu_s "$RECEIVER_PID")" -v b="$receiver_cpu_before" 'BEGIN {print a - b}')
server_cpu_s=$(awk -v a="$(cpu_s "$SERVER_PID")" -v b="$server_cpu_before" 'BEGIN {print a - b}')
[ "$received" -ge "$EVENTS" ] || failed+=("delivery: the receiver got $received of $EVENTS events")
# Paced: one push at a time, 20 ms apart, so that each delivery finds the queue empty.
curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "$SERVER_URL/v2/bench/hooks/manifests/base" >"$dir/manifest.json"
for i in $(seq 1 "$PACED"); do
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$dir/manifest.json" "$SERVER_URL/v2/bench/hooks/manifests/paced-$i" \
    || failed+=("delivery: paced push $i failed")
  sleep 0.02
done
paced_received=$(wait_distinct $((EVENTS + PACED)))
[ "$paced_received" -ge $((EVENTS + PACED)) ] || failed+=("delivery: the receiver got $paced_received of $((EVENTS + PACED)) events after the paced pushes")
curl -sf "$RECEIVER_URL/stats" >"$dir/receiver.json"
# Every record of the trigger, newest first, page by page.
trigger=$(curl -sf "$SERVER_URL/api/v1/repositories/bench/hooks/triggers" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["triggers"][0]["id"])')
: >"$dir/records.jsonl"
after=""
while :; do
  page=$(curl -sf "$SERVER_URL/api/v1/repositories/bench/hooks/triggers/$trigger/records?n=100${after:+&after=$after}")
  echo "$page" >>"$dir/records.jsonl"
  after=$(echo "$page" | python3 -c 'import json,sys; n=json.load(sys.stdin)["next"]; print(n or "")')
  [ -n "$after" ] || break
done
stop_server
stop_receiver
logged=$(grep -E 'WARN|ERROR' "$dir/server.log" | head -3 || true)
if [ -n "$logged" ]; then echo "note: berth logged (see $dir/server.log):"; echo "$logged"; fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

# --- the tables ---------------------------------------------------------------------------
echo
python3 - "$RESULTS" "$dir" "$wall_s" "$receiver_cpu_s" "$server_cpu_s" "${MODES[@]}" <<'PY' | tee "$OUT/webhook-bench.md"
import json, statistics, sys

results_path, delivery_dir, wall_s, receiver_cpu_s, server_cpu_s = sys.argv[1:6]
modes = sys.argv[6:]
runs = [json.loads(line) for line in open(results_path) if line.strip()]

def median(xs):
    return statistics.median(xs) if xs else float("nan")

print("| mode | push ops/s (median) | per round | p99 ms (median) | per round | bench CPU | daemon CPU | receiver CPU |")
print("|---|---:|---|---:|---|---:|---:|---:|")
medians = {}
for mode in modes:
    rs = sorted((r for r in runs if r.get("server") == mode), key=lambda r: r["round"])
    ops = [r["ops_per_s"] for r in rs]
    p99 = [r["p99_ms"] for r in rs]
    share = lambda key: median([(r[key] or 0) / r["elapsed_s"] for r in rs if r.get(key) is not None])
    receiver = [r["receiver_cpu_s"] / r["elapsed_s"] for r in rs if r.get("receiver_cpu_s") is not None]
    medians[mode] = (median(ops), median(p99))
    print(f"| {mode} | {median(ops):.0f} | {', '.join(f'{x:.0f}' for x in ops)} | {median(p99):.2f} | "
          f"{', '.join(f'{x:.2f}' for x in p99)} | {share('client_cpu_s'):.0%} | {share('server_cpu_s'):.0%} | "
          f"{(f'{median(receiver):.0%}' if receiver else '-')} |")
(base_ops, base_p99), (hook_ops, hook_p99) = medians[modes[0]], medians[modes[1]]
print()
print(f"ratio {modes[1]} / {modes[0]}: throughput {hook_ops / base_ops:.3f}, p99 {hook_p99 / base_p99:.3f}"
      " (target: both within 5%, 0.95–1.05)")
print("(CPU: seconds per second of the timed phase, 1.00 = one core of the 2)")

arrivals = json.load(open(f"{delivery_dir}/receiver.json"))["arrivals"]
first_ns = {}
for ns, webhook_id, tag in arrivals:
    first_ns.setdefault(webhook_id, (ns, tag))
records = {}
for line in open(f"{delivery_dir}/records.jsonl"):
    for record in json.loads(line)["records"]:
        records[record["event_id"]] = record
def latencies(paced):
    return sorted(ns / 1e6 - records[i]["at_ms"] for i, (ns, tag) in first_ns.items()
                  if i in records and (tag or "").startswith("paced-") == paced)
def q(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
burst_ms, paced_ms = latencies(False), latencies(True)
times = sorted(ns for ns, tag in first_ns.values() if not (tag or "").startswith("paced-"))
duplicates = len(arrivals) - len(first_ns)
delivered = sum(1 for r in records.values() if r["status"] == "DELIVERED")
span_s = (times[-1] - times[0]) / 1e9 if len(times) > 1 else float("nan")
bench = json.loads(open(f"{delivery_dir}/result.json").readline())
print()
print("| delivery | value |")
print("|---|---:|")
print(f"| events received (distinct webhook-id) / records DELIVERED / records | {len(first_ns)} / {delivered} / {len(records)} |")
print(f"| duplicates received | {duplicates} |")
print(f"| pushes: ops/s over {bench['ops']} tags | {bench['ops_per_s']:.0f} |")
print(f"| delivery throughput, first to last receipt | {(len(times) - 1) / span_s:.0f} events/s over {span_s:.2f} s |")
for name, xs in (("burst", burst_ms), ("paced, 20 ms apart", paced_ms)):
    print(f"| ack → receipt latency, {name} ({len(xs)}): p50 / p99 / max | "
          f"{q(xs, 0.50):.1f} / {q(xs, 0.99):.1f} / {(xs[-1] if xs else float('nan')):.1f} ms |")
print(f"| daemon CPU / receiver CPU (s, burst start to its last receipt, {float(wall_s):.2f} s) | {float(server_cpu_s):.2f} / {float(receiver_cpu_s):.2f} |")
PY
echo
echo "results: $OUT"
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi

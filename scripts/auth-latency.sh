#!/usr/bin/env bash
# What access control costs on the hottest path: manifest-get (c=32) against one berth with
# [auth] enabled = false and one with access control on, pulled with Basic credentials
# (argon2 once per credential and minute, then a per-shard cache and a policy evaluation per
# request) and with a bearer token from /token (an HMAC check, cached per shard). Alternating
# rounds; prints one line per run and a table of medians.
#   DURATION=10s ROUNDS=3 ./scripts/auth-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin berth >/dev/null
cargo build --release --locked -p berth-bench >/dev/null
BERTH="${BERTH_BIN:-$TARGET/release/berth}"
BENCH="$TARGET/release/berth-bench"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # $1 name, $2 auth enabled; sets URL and PID
  mkdir -p "$WORK/$1"
  printf '[auth]\nenabled = %s\nadmin_password = "bench-admin-pw"\nnamespaces_per_account_max = 10\n[log]\naccess_log = false\nlevel = "warn"\n[gc]\ninterval_s = 0\n[scrub]\ninterval_s = 0\n' "$2" > "$WORK/$1/berth.toml"
  env -u RUST_LOG "$BERTH" serve --listen 127.0.0.1:0 --data-dir "$WORK/$1/data" --config "$WORK/$1/berth.toml" >"$WORK/$1/log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 300); do [ -s "$WORK/$1/data/listen.addr" ] && break; sleep 0.1; done
  URL="http://$(cat "$WORK/$1/data/listen.addr")"
}
start open false; OPEN=$URL; OPEN_PID=$PID
start auth true; AUTH=$URL; AUTH_PID=$PID
BASIC="Basic $(printf 'admin:bench-admin-pw' | base64)"
for ns in basic bearer; do
  curl -sf -o /dev/null -H "Authorization: $BASIC" -d "{\"name\":\"$ns\"}" "$AUTH/api/v1/namespaces"
done
SCOPES=""
for round in $(seq 1 "$ROUNDS"); do SCOPES="$SCOPES&scope=repository:bearer/r$round/manifests/r0:pull,push"; done
TOKEN=$(curl -sf -H "Authorization: $BASIC" "$AUTH/token?service=berth$SCOPES" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

run() { # $1 label, $2 url, $3 pid, $4 prefix, $5 authorization (may be empty), $6 round
  local args=(-r "$2" --server-pid "$3" --server-name "$1" --round "$6" -d "$DURATION" -c 32 --json --repo-prefix "$4/r$6")
  if [ -n "$5" ]; then args+=(--authorization "$5"); fi
  "$BENCH" "${args[@]}" manifest-get | tee -a "$WORK/results.jsonl"
}
for round in $(seq 1 "$ROUNDS"); do
  run "auth off" "$OPEN" "$OPEN_PID" open "" "$round"
  run "Basic" "$AUTH" "$AUTH_PID" basic "$BASIC" "$round"
  run "bearer token" "$AUTH" "$AUTH_PID" bearer "Bearer $TOKEN" "$round"
done
python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
base = statistics.median(r["req_p99_ms"] for r in runs if r["server"] == "auth off")
print("| mode | req/s (median) | p50 ms | p99 ms | p99 vs auth off | errors |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["auth off", "Basic", "bearer token"]:
    rs = [r for r in runs if r["server"] == name]
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"| {name} | {med('req_per_s'):,.0f} | {med('req_p50_ms'):.2f} | {med('req_p99_ms'):.2f} | {med('req_p99_ms')/base:.2f} | {sum(r['errors'] for r in rs)} |")
PY

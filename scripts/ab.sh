#!/usr/bin/env bash
# Two berth binaries side by side: `scripts/ab.sh OLD_BIN NEW_BIN [ROUNDS] [DURATION]`.
#
# Runs the same berth-bench scenarios against each binary in alternating rounds (the order
# flips every round), each server fresh, access control off, access log off, so that a change
# can be judged by ratios and medians on a noisy shared machine. Prints one line per run:
# `<scenario> <binary> round=<n> <berth-bench summary>`. berth-bench shares the machine's cores
# with the server; its own CPU share is in each summary.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?usage: $0 OLD_BIN NEW_BIN [ROUNDS] [DURATION]}
NEW=${2:?usage: $0 OLD_BIN NEW_BIN [ROUNDS] [DURATION]}
ROUNDS=${3:-3}
DURATION=${4:-5s}
SCENARIOS=(
  "manifest-get -c 64"
  "pull-blob --size 4KiB -c 64"
  "pull-blob --size 1MiB -c 64"
)

cargo build --release --locked -p berth-bench >/dev/null
BENCH=${CARGO_TARGET_DIR:-$PWD/target}/release/berth-bench
WORK=$(mktemp -d -t berth-ab.XXXXXX)
PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap 'stop; rm -rf "$WORK"' EXIT

run_one() { # $1: binary, $2: label, $3: round, $4...: scenario arguments
  local bin=$1 label=$2 round=$3
  shift 3
  local dir="$WORK/$label-$round-$RANDOM"
  mkdir -p "$dir"
  printf '[auth]\nenabled = false\n[log]\naccess_log = false\nlevel = "warn"\n' >"$dir/berth.toml"
  env -u RUST_LOG "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" \
    --config "$dir/berth.toml" >"$dir/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do [ -s "$dir/data/listen.addr" ] && break; sleep 0.05; done
  local url="http://$(cat "$dir/data/listen.addr")"
  local summary
  summary=$("$BENCH" --registry "$url" --duration "$DURATION" --server-pid "$PID" --json "$@" 2>&1 >/dev/null | tail -n 1)
  echo "$* | $label round=$round | $summary"
  stop
}

for round in $(seq "$ROUNDS"); do
  for scenario in "${SCENARIOS[@]}"; do
    # shellcheck disable=SC2086
    if [ $((round % 2)) -eq 1 ]; then
      run_one "$OLD" old "$round" $scenario
      run_one "$NEW" new "$round" $scenario
    else
      run_one "$NEW" new "$round" $scenario
      run_one "$OLD" old "$round" $scenario
    fi
  done
done

#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: `fuzz/run.sh TARGET SECONDS`.
#
# 1. Replays every input in regressions/TARGET/ (crashes found earlier) once.
# 2. Fuzzes for SECONDS from the checked-in seeds in corpus/TARGET/, collecting new inputs in
#    target/corpus/TARGET/ (never in the checked-in corpus).
#
# Exits non-zero on a crash, saving the input under artifacts/TARGET/ and printing how to
# replay it. libFuzzer's output goes to target/logs/TARGET.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 TARGET SECONDS   (targets: $(fuzz_targets | tr '\n' ' '))" >&2
  exit 2
fi
target="$1"
seconds="$2"
if ! [ -f "$FUZZ_DIR/fuzz_targets/$target.rs" ]; then
  echo "no fuzz target '$target' (targets: $(fuzz_targets | tr '\n' ' '))" >&2
  exit 2
fi
ensure_fuzz_toolchain

log_dir="$FUZZ_DIR/target/logs"
work_corpus="$FUZZ_DIR/target/corpus/$target"
mkdir -p "$log_dir" "$work_corpus"
log="$log_dir/$target.log"

failed() {
  echo "fuzz $target: FAILED ($1); the end of $log:" >&2
  tail -n 40 "$log" >&2
  echo >&2
  echo "replay a saved input with:" >&2
  echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $target fuzz/artifacts/$target/<file>" >&2
  echo "and keep it as a regression: cp fuzz/artifacts/$target/<file> fuzz/regressions/$target/" >&2
  exit 1
}

shopt -s nullglob
regressions=()
for file in "$FUZZ_DIR/regressions/$target"/*; do
  [ -f "$file" ] && [ "$(basename "$file")" != README.md ] && regressions+=("$file")
done
if [ ${#regressions[@]} -gt 0 ]; then
  if ! cargo fuzz run "${FUZZ_CARGO_ARGS[@]}" "$target" "${regressions[@]}" >"$log" 2>&1; then
    failed "a regression input crashes again"
  fi
  echo "fuzz $target: ${#regressions[@]} regression input(s) replayed"
fi

dict=()
[ -f "$FUZZ_DIR/dicts/$target.dict" ] && dict=("-dict=$FUZZ_DIR/dicts/$target.dict")
started=$SECONDS
if ! cargo fuzz run "${FUZZ_CARGO_ARGS[@]}" "$target" "$work_corpus" "$FUZZ_DIR/corpus/$target" \
  -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${dict[@]}" >"$log" 2>&1; then
  failed "crash, timeout or out of memory"
fi
runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
echo "fuzz $target: no crash in $((SECONDS - started)) s (${runs:-?} runs, ${coverage:-cov: ?})"

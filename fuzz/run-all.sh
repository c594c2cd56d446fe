#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each: `fuzz/run-all.sh SECONDS`. Installs cargo-fuzz if
# it is missing, builds all targets once, then runs each with run.sh (regressions first).
# Ends with "fuzz: N passed, N failed" and exits non-zero if any target failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"

if [ $# -ne 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS" >&2
  exit 2
fi
seconds="$1"
ensure_fuzz_toolchain
cargo fuzz build "${FUZZ_CARGO_ARGS[@]}"

passed=0
failed=()
for target in $(fuzz_targets); do
  if "$FUZZ_DIR/run.sh" "$target" "$seconds"; then
    passed=$((passed + 1))
  else
    failed+=("$target")
  fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed targets: ${failed[*]}"
echo "fuzz: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]

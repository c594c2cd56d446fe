#!/usr/bin/env bash
# Installs what the tests need, runs clippy, then the whole test suite (unit, property, tidy,
# integration against the real daemon, real clients). Ends with cargo's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need+=(libclang-dev)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
# The full-disk test formats a small ext4 image (loop-mounted; tmpfs where loops are missing).
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Property tests must not write regression files into the tree during CI.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1

# Lints first, failing fast: the workspace's [workspace.lints] with every warning an error. The
# release profile, like cargo test below, so RocksDB's C++ (built by a build script, which check
# and build share) is compiled once; clippy's own output comes before cargo test's summary.
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy --release --workspace --all-targets --locked -- -D warnings

# Every fuzz target briefly (regression inputs first), so parser regressions surface here.
# FUZZ_SECONDS=0 skips them. They run first so that cargo's summary ends the output.
if [ "${FUZZ_SECONDS:-20}" -gt 0 ]; then
  ./fuzz/run-all.sh "${FUZZ_SECONDS:-20}"
fi

cargo test --release --workspace --locked 2>&1

# How Berth builds its fuzz targets on the stable toolchain. Sourced by run.sh and run-all.sh,
# so a target built by one is never rebuilt by the other: both pass exactly FUZZ_CARGO_ARGS.

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The version the README documents; installed when cargo-fuzz is missing.
CARGO_FUZZ_VERSION="0.13.2"

# cargo-fuzz passes nightly-only rustc flags (-Zsanitizer=address, ...). RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them; it changes nothing else about the build.
export RUSTC_BOOTSTRAP=1

# Release optimisations with debug assertions and overflow checks (cargo-fuzz's defaults,
# spelled out), AddressSanitizer for the unsafe code of dependencies, and this folder's own
# target/ even when CARGO_TARGET_DIR points elsewhere, so fuzz builds never touch the main
# workspace's artifacts (and never compile RocksDB).
FUZZ_CARGO_ARGS=(
  --fuzz-dir "$FUZZ_DIR"
  --target-dir "$FUZZ_DIR/target"
  --release
  --debug-assertions
  --sanitizer address
)

# Every fuzz target, by name (fuzz_targets/<name>.rs).
fuzz_targets() {
  local file
  for file in "$FUZZ_DIR"/fuzz_targets/*.rs; do
    basename "$file" .rs
  done
}

# Installs what building the targets needs: a C++ compiler for libFuzzer itself, and
# cargo-fuzz from crates.io.
ensure_fuzz_toolchain() {
  if ! command -v c++ >/dev/null 2>&1; then
    echo "installing: g++ (libFuzzer is C++)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq g++ >/dev/null
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing: cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
  fi
}

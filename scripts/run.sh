#!/usr/bin/env bash
# Installs what the build needs, builds, and starts the registry on its embedded default
# configuration (127.0.0.1:5000, data in ./berth-data). Extra arguments go to `berth serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --bin berth
exec "${CARGO_TARGET_DIR:-target}/release/berth" serve "$@"

#!/usr/bin/env bash
# The whole test suite. On a fresh Debian machine with Rust it first installs what the
# tests need (softhsm2, opensc's pkcs11-tool, cargo-nextest, Python `cryptography`).
# Extra arguments go to `cargo nextest run` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
{ [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null; } || packages+=(softhsm2)
command -v pkcs11-tool >/dev/null || packages+=(opensc)
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "test.sh: installing ${packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "test.sh: missing ${packages[*]}: run 'sudo apt-get install -y ${packages[*]}' and retry" >&2
    exit 1
  fi
fi
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# One process per test: each test gets its own SoftHSM token directory and database.
exec cargo nextest run --no-fail-fast "$@"

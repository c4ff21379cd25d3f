#!/usr/bin/env bash
# The whole test suite. On a fresh Debian machine with Rust it first installs what the
# tests need (softhsm2, opensc's pkcs11-tool, gcc and libp11-kit-dev for the fault-injecting
# PKCS#11 module, openssl and curl as outside clients, cargo-nextest, Python `cryptography`).
# The storage fault tests use chattr +i, so run it as root (as CI does).
# Extra arguments go to `cargo nextest run` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh openssl curl
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# One process per test: each test gets its own SoftHSM token directory and database.
exec cargo nextest run --no-fail-fast "$@"

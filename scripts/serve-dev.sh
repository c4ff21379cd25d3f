#!/usr/bin/env bash
# Starts Coffer on the embedded default: SoftHSM token, SQLite and TLS under ./coffer-data
# (created on first start). Installs softhsm2 first if it is missing. Extra arguments go to
# `coffer serve --dev` (e.g. --listen 127.0.0.1:9443 or --data-dir /tmp/coffer).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
exec target/release/coffer serve --dev "$@"

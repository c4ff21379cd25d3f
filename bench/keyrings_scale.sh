#!/usr/bin/env bash
# Does the encrypt cost stay flat as keyrings multiply? Against a release build in dev mode
# (SoftHSM, SQLite, TLS, durable audit): 1 KiB envelope encrypts spread at random over 10
# keyrings, then the same over KEYRINGS keyrings created through the API (wrk, 16
# connections), with the server's resident memory after each phase.
#
#   bench/keyrings_scale.sh [KEYRINGS=100000] [SECONDS=20]
#
# COFFER_BIN=path runs a given build. Needs wrk (installed when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
keyrings=${1:-100000}
duration=${2:-20}
scripts/install-deps.sh wrk
[ -n "${COFFER_BIN:-}" ] || cargo build --release --quiet --bin coffer
coffer=${COFFER_BIN:-target/release/coffer}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
COFFER_LOG=warn,rustls=error "$coffer" serve --dev --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
url="https://127.0.0.1:$port"
for _ in $(seq 300); do curl -sf --cacert "$work/data/tls/ca.pem" "$url/v1/ready" >/dev/null 2>&1 && break; sleep 0.1; done
owner=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$work/data/bootstrap.json")
api() { curl -sS --fail-with-body --cacert "$work/data/tls/ca.pem" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -X POST "$url$2" -d "$3"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
group=$(api "$owner" /v1/groups '{"name":"bench"}' | field id)
app=$(api "$owner" /v1/apps "{\"name\":\"bench\",\"groups\":[\"$group\"]}" | field id)
key=$(api "$owner" /v1/auth/apikey "{\"principal\":\"$app\",\"name\":\"bench\",\"flags\":{\"keyring.*.*\":true}}" | field api_key)
echo "{\"plaintext\":\"$(head -c 1024 /dev/urandom | base64 -w0)\"}" > "$work/encrypt.json"
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$server/status"; }

# Encrypts under a keyring picked at random among those create() made with BENCH_PREFIX.
cat > "$work/encrypt.lua" <<'LUA'
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  count = tonumber(os.getenv("BENCH_COUNT"))
  prefix = os.getenv("BENCH_PREFIX")
  local f = io.open(os.getenv("BENCH_BODY")); body = f:read("*a"); f:close()
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")}
end
function request()
  local path = string.format("/v1/keyrings/%s%d/encrypt", prefix, math.random(0, count - 1))
  return wrk.format("POST", path, headers, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# Creates COUNT keyrings named PREFIX0 .. PREFIX<COUNT-1> (bench/create_keyrings.py, 8
# connections); prints the rate.
create() {
  local result created rate errors
  result=$(python3 bench/create_keyrings.py "$url" "$work/data/tls/ca.pem" "$owner" "$group" "$1" "$2" 8)
  read -r _ created rate errors <<<"$result"
  printf '%-34s %10s   (%s/s, %s errors)\n' "keyrings created" "$created" "$rate" "$errors"
}
# Encrypts at random across the COUNT ($3) keyrings named PREFIX ($2)...; prints one row
# named $1.
encrypt() {
  local result rps p50 p99 errors
  result=$(BENCH_KEY=$key BENCH_BODY="$work/encrypt.json" BENCH_PREFIX=$2 BENCH_COUNT=$3 \
    wrk -t2 -c16 -d"${duration}s" -s "$work/encrypt.lua" "$url" | grep '^RESULT')
  read -r _ rps p50 p99 errors <<<"$result"
  printf '%-34s %10s %9s %9s %7s %8s\n' "$1" "$rps" "$p50" "$p99" "$errors" "$(rss_mb)"
}

create s 10 >/dev/null
printf '%-34s %10s %9s %9s %7s %8s\n' "encrypt 1 KiB, random keyring of" "req/s" "p50 ms" "p99 ms" "errors" "RSS MB"
encrypt "10 keyrings" s 10
create r "$keyrings"
encrypt "$keyrings keyrings (first pass)" r "$keyrings"
encrypt "$keyrings keyrings (second pass)" r "$keyrings"

#!/usr/bin/env bash
# Load benchmark: 1 KiB encrypt and decrypt through the HTTPS API (envelope and hsm
# keyrings), 1 KiB secret reads (app API key and signed machine), P-256 and Ed25519 sign and verify, against a release build in dev mode
# (SoftHSM + SQLite, TLS on, audit durable); then the raw SoftHSM P-256 signing rate with the
# same number of HSM threads (COFFER_HSM_THREADS, default 2), for comparison.
#
#   bench/run.sh [DURATION_SECONDS=20] [CONNECTIONS=16]
#
# BENCH_ONLY=keyrings runs only the keyring rows (and the stalled-stream row); BENCH_ONLY=aws
# only the keyring rows and the AWS KMS face's Encrypt row beside them.
#
# COFFER_BIN=path runs a given server binary instead of building this tree (to compare two
# builds under the same conditions, e.g. before and after a change).
#
# Needs wrk (apt-get install wrk); installs it when run as root. The server and wrk share
# the machine, so the figures include the load generator's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20}
connections=${2:-16}
scripts/install-deps.sh wrk

cargo build --release --quiet --example raw-sign
if [ -z "${COFFER_BIN:-}" ]; then
  cargo build --release --quiet --bin coffer
fi
coffer=${COFFER_BIN:-target/release/coffer}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
COFFER_LOG=${COFFER_LOG:-warn,rustls=error} "$coffer" serve --dev --data-dir "$work/data" --listen "127.0.0.1:$port" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/data/bootstrap.json" ] && break; sleep 0.1; done

owner=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$work/data/bootstrap.json")
ca="$work/data/tls/ca.pem"
url="https://127.0.0.1:$port"
api() { curl -sS --fail-with-body --cacert "$ca" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -X "$2" "$url$3" ${4:+-d "$4"}; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

group=$(api "$owner" POST /v1/groups '{"name":"bench"}' | field id)
app=$(api "$owner" POST /v1/apps "{\"name\":\"bench\",\"groups\":[\"$group\"]}" | field id)
key=$(api "$owner" POST /v1/auth/apikey "{\"principal\":\"$app\",\"name\":\"bench\",\"flags\":{\"keyring.*.*\":true,\"key.*.*\":true}}" | field api_key)
plaintext=$(head -c 1024 /dev/urandom | base64 -w0)

# Every wrk script ends with this report: one RESULT line of req/s, p50 and p99 in ms, errors.
cat > "$work/report.lua" <<'LUA'
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
cat - "$work/report.lua" > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
local f = io.open(os.getenv("BENCH_BODY")); wrk.body = f:read("*a"); f:close()
LUA

# Runs wrk with the Lua script $2 against the path $3 and prints one row named $1 (the
# script reads its inputs from BENCH_* variables set by the caller).
# The server's CPU per request is its utime + stime over the run divided by the requests.
measure() {
  local result rps p50 p99 errors requests before after
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  result=$(wrk -t2 -c"$connections" -d"${duration}s" -s "$2" "$url$3" | grep '^RESULT')
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  read -r _ rps p50 p99 errors requests <<<"$result"
  printf '%-22s %10s %9s %9s %7s %11s\n' "$1" "$rps" "$p50" "$p99" "$errors" \
    "$(python3 -c "print(round(($after - $before) / $(getconf CLK_TCK) * 1e6 / max($requests, 1), 1))")"
}

printf '%-22s %10s %9s %9s %7s %11s\n' "operation" "req/s" "p50 ms" "p99 ms" "errors" "CPU µs/req"
for protection in envelope hsm; do
  api "$owner" POST /v1/keyrings "{\"name\":\"$protection\",\"group\":\"$group\",\"protection\":\"$protection\"}" >/dev/null
  echo "{\"plaintext\":\"$plaintext\"}" > "$work/encrypt.json"
  ciphertext=$(api "$key" POST "/v1/keyrings/$protection/encrypt" "@$work/encrypt.json" | field ciphertext)
  echo "{\"ciphertext\":\"$ciphertext\"}" > "$work/decrypt.json"
  for op in encrypt decrypt; do
    BENCH_KEY=$key BENCH_BODY="$work/$op.json" \
      measure "$protection $op 1KiB" "$work/post.lua" "/v1/keyrings/$protection/$op"
  done
done

# The envelope encrypt again through the AWS KMS face: `TrentService.Encrypt` of the same
# 1 KiB, SigV4-signed. One request is signed once (bench/aws_signed_request.py) and wrk sends
# those same bytes every time: SigV4 has no nonce and a signature stays valid 5 minutes, so
# the server still parses, verifies (HMAC chain, body hash) and audits every request while
# the load generator spends nothing on signing; the figure is the server's.
aws_ring=$(api "$owner" GET /v1/keyrings/envelope | field id)
aws_credential=$(api "$owner" POST "/v1/apps/$app/aws-credentials" "{\"name\":\"bench\",\"group\":\"$group\",\"flags\":{\"keyring.*.*\":true}}")
printf '{"KeyId":"%s","Plaintext":"%s"}' "$aws_ring" "$plaintext" > "$work/aws-encrypt.json"
python3 bench/aws_signed_request.py "$url" "$(field access_key_id <<<"$aws_credential")" \
  "$(field secret_access_key <<<"$aws_credential")" us-east-1 Encrypt "$work/aws-encrypt.json" "$work/aws-headers.txt"
cat - "$work/report.lua" > "$work/aws.lua" <<'LUA'
wrk.method = "POST"
for line in io.lines(os.getenv("BENCH_HEADERS")) do
  local name, value = line:match("^([^:]+): (.*)$")
  wrk.headers[name] = value
end
local f = io.open(os.getenv("BENCH_BODY")); wrk.body = f:read("*a"); f:close()
LUA
# The native row again just before, so that both run on a database of the same size (the
# audit trail grows through the run, and every row writes to it).
echo "{\"plaintext\":\"$plaintext\"}" > "$work/encrypt.json"
BENCH_KEY=$key BENCH_BODY="$work/encrypt.json" \
  measure "envelope encrypt (again)" "$work/post.lua" /v1/keyrings/envelope/encrypt
if [ "$duration" -lt 290 ]; then
  BENCH_HEADERS="$work/aws-headers.txt" BENCH_BODY="$work/aws-encrypt.json" \
    measure "aws Encrypt 1KiB" "$work/aws.lua" /
else
  echo "aws Encrypt 1KiB: skipped, one signature lasts 5 minutes (DURATION < 290)"
fi
# BENCH_ONLY=aws stops here (the native envelope rows above are its comparison).
[ "${BENCH_ONLY:-}" = aws ] && exit 0

# The envelope encrypt again while 8 live activity streams stall (their client never reads):
# the server drops each once its buffer is full and must not slow down for them.
python3 bench/stalled_streams.py "$url" "$ca" "$owner" 8 "$((duration + 3))" > "$work/stalled.txt" &
stalled=$!
sleep 1
BENCH_KEY=$key BENCH_BODY="$work/encrypt.json" \
  measure "env enc, 8 stalled" "$work/post.lua" /v1/keyrings/envelope/encrypt
wait $stalled
printf '%-22s %10s\n' "stalled streams shut" "$(cat "$work/stalled.txt")/8 (ended by overflow)"
# BENCH_ONLY=keyrings stops here (A/B runs of the hot path).
[ "${BENCH_ONLY:-}" = keyrings ] && exit 0

# The envelope encrypt again, as a machine: every request Ed25519-signed with its own nonce
# (pre-signed by Python, each replayed once), so the server verifies a signature and records
# a nonce per request.
token=$(api "$owner" POST /v1/machine-tokens "{\"kind\":\"enrollment\",\"name\":\"bench\",\"flags\":{\"keyring.*.*\":true},\"groups\":{\"$group\":[\"encrypt\",\"decrypt\"]},\"lifetime_seconds\":600,\"max_uses\":1,\"machine_lifetime_seconds\":3600}" | field token)
count=$((duration * 30000))
python3 bench/signed_requests.py "$url" "$ca" "$token" /v1/keyrings/envelope/encrypt "$work/encrypt.json" "$count" "$work/signed.txt"
cat - "$work/report.lua" > "$work/signed.lua" <<'LUA'
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args)
  lines = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_SIGNED")) do
    if n % 2 == id then table.insert(lines, line) end
    n = n + 1
  end
  f = io.open(os.getenv("BENCH_BODY")); body = f:read("*a"); f:close()
  i = 0
end
function request()
  i = i + 1
  local machine, ts, nonce, sig = lines[i]:match("(%S+) (%S+) (%S+) (%S+)")
  return wrk.format("POST", "/v1/keyrings/envelope/encrypt", {
    ["Content-Type"] = "application/json", ["X-Machine-Id"] = machine, ["X-Timestamp"] = ts,
    ["X-Nonce"] = nonce, ["X-Signature"] = sig}, body)
end
LUA
BENCH_SIGNED="$work/signed.txt" BENCH_BODY="$work/encrypt.json" \
  measure "signed envelope enc" "$work/signed.lua" /v1/keyrings/envelope/encrypt

# Secret reads of a 1 KiB value, by an app's API key and by a signed machine (each granted
# the secret), to compare with the envelope decrypt of the same size above.
secret_key=$(api "$owner" POST /v1/auth/apikey "{\"principal\":\"$app\",\"name\":\"bench-secrets\",\"flags\":{\"secret.*.*\":true}}" | field api_key)
value=$(head -c 768 /dev/urandom | base64 -w0)
api "$owner" POST /v1/secrets "{\"name\":\"bench\",\"group\":\"$group\",\"value\":\"$value\"}" >/dev/null
api "$owner" PUT "/v1/secrets/bench/grants/$app" >/dev/null
cat - "$work/report.lua" > "$work/get.lua" <<'LUA'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
LUA
BENCH_KEY=$secret_key measure "secret read 1KiB" "$work/get.lua" /v1/secrets/bench/value
token=$(api "$owner" POST /v1/machine-tokens "{\"kind\":\"enrollment\",\"name\":\"bench-secrets\",\"flags\":{\"secret.*.*\":true},\"groups\":{\"$group\":[\"decrypt\"]},\"lifetime_seconds\":600,\"max_uses\":1,\"machine_lifetime_seconds\":3600}" | field token)
: > "$work/empty"
python3 bench/signed_requests.py "$url" "$ca" "$token" /v1/secrets/bench/value "$work/empty" "$count" "$work/signed-get.txt" GET
machine=$(head -1 "$work/signed-get.txt" | cut -d' ' -f1)
api "$owner" PUT "/v1/secrets/bench/grants/$machine" >/dev/null
sed -e 's|"POST", "/v1/keyrings/envelope/encrypt", {|"GET", "/v1/secrets/bench/value", {|' \
    -e 's|\["Content-Type"\] = "application/json", ||' -e 's|}, body)|})|' "$work/signed.lua" > "$work/signed-get.lua"
BENCH_SIGNED="$work/signed-get.txt" BENCH_BODY="$work/empty" \
  measure "signed secret read" "$work/signed-get.lua" /v1/secrets/bench/value

message=$(head -c 32 /dev/urandom | base64 -w0)
for algorithm in ec-p256 ed25519; do
  api "$owner" POST /v1/keys "{\"name\":\"$algorithm\",\"group\":\"$group\",\"algorithm\":\"$algorithm\"}" >/dev/null
  echo "{\"message\":\"$message\"}" > "$work/sign.json"
  signature=$(api "$key" POST "/v1/keys/$algorithm/sign" "@$work/sign.json" | field signature)
  echo "{\"message\":\"$message\",\"signature\":\"$signature\"}" > "$work/verify.json"
  for op in sign verify; do
    BENCH_KEY=$key BENCH_BODY="$work/$op.json" measure "$algorithm $op" "$work/post.lua" "/v1/keys/$algorithm/$op"
  done
done

# The same signing work without Coffer: a throw-away token, raw C_Sign in a loop.
kill $server 2>/dev/null; wait $server 2>/dev/null || true
mkdir -p "$work/raw/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$work/raw/tokens" > "$work/raw/softhsm2.conf"
export SOFTHSM2_CONF="$work/raw/softhsm2.conf"
softhsm2-util --init-token --free --label raw-bench --so-pin 5678 --pin 1234 >/dev/null
threads=${COFFER_HSM_THREADS:-2}
read -r _ raw raw_cpu < <(target/release/examples/raw-sign /usr/lib/softhsm/libsofthsm2.so raw-bench 1234 "$threads" "$duration" | grep '^RAW')
printf '%-22s %10s %39s   (%s HSM threads, no HTTP, no audit)\n' "raw SoftHSM P-256 sign" "$raw" "$raw_cpu" "$threads"

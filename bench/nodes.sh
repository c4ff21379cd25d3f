#!/usr/bin/env bash
# Envelope encrypt and decrypt of 1 KiB through the HTTPS API on three set-ups, against a
# release build in dev mode (SoftHSM, TLS on, audit durable):
#   1. one node on SQLite;
#   2. one node on PostgreSQL (a throwaway cluster on this machine, fsync on);
#   3. three nodes on that PostgreSQL and the same token, loaded together: one wrk per node,
#      the connections split between them, req/s summed (p50 and p99: the worst node's).
#
#   bench/nodes.sh [DURATION_SECONDS=20] [CONNECTIONS=16]
#
# Needs wrk and PostgreSQL's server binaries (installed when run as root). Run as root: the
# cluster runs as the `postgres` user. Everything shares the machine, load generator included.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20}
connections=${2:-16}
scripts/install-deps.sh wrk postgresql
cargo build --release --quiet --bin coffer
coffer=target/release/coffer
work=$(mktemp -d)
chmod 755 "$work"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  scripts/pg-cluster.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
admin=$(scripts/pg-cluster.sh start "$work/pg")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts `serve --dev` on data directory $1 and database $2; sets node_url once it is ready.
start_node() {
  local port
  port=$(free_port)
  COFFER_LOG=warn,rustls=error "$coffer" serve --dev --data-dir "$1" --database "$2" \
    --listen "127.0.0.1:$port" >>"$work/servers.log" 2>&1 &
  servers+=($!)
  node_url="https://127.0.0.1:$port"
  for _ in $(seq 200); do
    curl -sf --cacert "$1/tls/ca.pem" "$node_url/v1/ready" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "bench: the node on $2 did not become ready (see its log)" >&2
  cat "$work/servers.log" >&2
  exit 1
}

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
local f = io.open(os.getenv("BENCH_BODY")); wrk.body = f:read("*a"); f:close()
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# Creates a group, an app key and an envelope keyring through the node at $2 (data dir $1);
# writes the key and the encrypt and decrypt bodies under $work/$3.
prepare() {
  local data=$1 url=$2 dir=$work/$3 owner group app
  mkdir -p "$dir"
  owner=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$data/bootstrap.json")
  api() { curl -sS --fail-with-body --cacert "$data/tls/ca.pem" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -X POST "$url$2" -d "$3"; }
  field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
  group=$(api "$owner" /v1/groups '{"name":"bench"}' | field id)
  app=$(api "$owner" /v1/apps "{\"name\":\"bench\",\"groups\":[\"$group\"]}" | field id)
  api "$owner" /v1/auth/apikey "{\"principal\":\"$app\",\"name\":\"bench\",\"flags\":{\"keyring.*.*\":true}}" | field api_key > "$dir/key"
  api "$owner" /v1/keyrings "{\"name\":\"ring\",\"group\":\"$group\",\"protection\":\"envelope\"}" >/dev/null
  echo "{\"plaintext\":\"$(head -c 1024 /dev/urandom | base64 -w0)\"}" > "$dir/encrypt.json"
  echo "{\"ciphertext\":\"$(api "$(cat "$dir/key")" /v1/keyrings/ring/encrypt "@$dir/encrypt.json" | field ciphertext)\"}" > "$dir/decrypt.json"
}

# Loads operation $3 of set-up $2 on every URL after them at once, the connections split;
# prints one row named $1.
measure() {
  local name=$1 dir=$work/$2 op=$3 total=0 p50=0 p99=0 errors=0 i=0 loads=()
  shift 3
  local per=$(( connections / $# )); [ "$per" -ge 1 ] || per=1
  for url in "$@"; do
    BENCH_KEY=$(cat "$dir/key") BENCH_BODY="$dir/$op.json" \
      wrk -t1 -c"$per" -d"${duration}s" -s "$work/post.lua" "$url/v1/keyrings/ring/$op" > "$work/wrk.$i" &
    loads+=($!)
    i=$((i + 1))
  done
  wait "${loads[@]}"
  for file in "$work"/wrk.*; do
    read -r _ rps q50 q99 err <<<"$(grep '^RESULT' "$file")"
    total=$((total + rps)); errors=$((errors + err))
    p50=$(python3 -c "print(max($p50, $q50))"); p99=$(python3 -c "print(max($p99, $q99))")
  done
  rm -f "$work"/wrk.*
  printf '%-34s %10s %9s %9s %7s\n' "$name" "$total" "$p50" "$p99" "$errors"
}

start_node "$work/sqlite" "$work/sqlite/coffer.db"
sqlite_url=$node_url
prepare "$work/sqlite" "$sqlite_url" sqlite
psql -q "$admin" -c "CREATE DATABASE bench" >/dev/null
postgres="${admin%/*}/bench"
start_node "$work/pg-nodes" "$postgres"
pg1=$node_url
prepare "$work/pg-nodes" "$pg1" postgres
start_node "$work/pg-nodes" "$postgres"
pg2=$node_url
start_node "$work/pg-nodes" "$postgres"
pg3=$node_url

printf '%-34s %10s %9s %9s %7s\n' "set-up, operation" "req/s" "p50 ms" "p99 ms" "errors"
for op in encrypt decrypt; do
  measure "1 node, SQLite: envelope $op" sqlite "$op" "$sqlite_url"
  measure "1 node, PostgreSQL: envelope $op" postgres "$op" "$pg1"
  measure "3 nodes, PostgreSQL: envelope $op" postgres "$op" "$pg1" "$pg2" "$pg3"
done

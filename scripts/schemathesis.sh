#!/usr/bin/env bash
# Property-based contract test: Schemathesis generates requests from the server's own OpenAPI
# document (GET /v1/openapi.json) and checks every answer against it: no 5xx, only documented
# status codes, the documented content type and the documented body schema.
#
# It starts `coffer serve --dev` on a throw-away data directory and a free loopback port,
# authenticates as the bootstrap owner (bearer API key from <data-dir>/bootstrap.json) and
# trusts the dev CA (<data-dir>/tls/ca.pem). The run is bounded in time, so the whole script
# takes under 4 minutes on the 2-core machine. Exits non-zero on any failure.
#
# Installs Schemathesis (pinned) in a virtualenv under target/ when it is missing.
#   SCHEMATHESIS_MAX_TIME     seconds of generation and testing (default 150)
#   SCHEMATHESIS_MAX_EXAMPLES test cases per operation and phase (default 30)
#   SCHEMATHESIS_SEED         random seed (default fixed, so CI runs the same cases)
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv=target/schemathesis/venv-$version
max_time=${SCHEMATHESIS_MAX_TIME:-150}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-30}
seed=${SCHEMATHESIS_SEED:-20261127}
started=$(date +%s)

scripts/install-deps.sh python3-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "schemathesis: installing schemathesis==$version in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build --quiet --bin coffer
data=$(mktemp -d "${TMPDIR:-/tmp}/coffer-schemathesis.XXXXXX")
report=target/schemathesis/report
target/debug/coffer serve --dev --data-dir "$data" --listen 127.0.0.1:0 >"$data/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$data"
}
trap stop EXIT

# bootstrap.json is written once the server listens; it names the URL it bound.
for _ in $(seq 120); do
  [ -s "$data/bootstrap.json" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.5
done
[ -s "$data/bootstrap.json" ] || { echo "schemathesis: the server did not start" >&2; cat "$data/server.log" >&2; exit 1; }
read -r url api_key < <(python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); print(b["url"], b["api_key"])' "$data/bootstrap.json")

# Three operations can take the run's own credential away (narrow or disable the owner's API
# key; demote or remove the owner once a second owner exists). They are pointed at a member
# and an API key made for them, so they still run with real ids without ending the run.
python3 - "$data" "$url" "$api_key" <<'PY'
import json, ssl, sys, urllib.request
data, url, key = sys.argv[1:]
tls = ssl.create_default_context(cafile=f"{data}/tls/ca.pem")
def post(path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=tls) as response:
        return json.load(response)
# A new person is invited and accepts with their own password (docs/invitations.md).
invited = post("/v1/users", {"email": "schemathesis-target@example.test", "role": "member"})
user = post("/v1/invitations/accept", {"token": invited["token"], "password": "schemathesis-Pw-7f3a9c"})["id"]
api_key = post("/v1/auth/apikey", {"principal": user, "name": "schemathesis-target", "flags": {"group.read": True}})["id"]
with open(f"{data}/schemathesis.toml", "w") as config:
    for operation, value in [("patch_users_id", user), ("delete_users_id", user), ("patch_auth_apikey_id", api_key)]:
        config.write(f'[[operations]]\ninclude-operation-id = "{operation}"\nparameters = {{ "path.id" = "{value}" }}\n\n')
PY

status=0
# The key goes in --header, not in the config file: it lives only in this process and its child.
# Run from the data directory: Schemathesis keeps a cache in ./.schemathesis.
# One worker: with two, Hypothesis parses lambda sources from two threads at once, which trips a
# CPython 3.11 bug ("AST constructor recursion depth mismatch") and fails the run at random.
# The live activity stream never ends by design (server-sent events): a request to it would
# only hit the request timeout. Its contract is tested by tests/api/activity_stream.rs.
root=$PWD
(cd "$data" && "$root/$venv/bin/schemathesis" --config-file "$data/schemathesis.toml" run "$url/v1/openapi.json" \
  --exclude-path /v1/activity/stream \
  --tls-verify "$data/tls/ca.pem" \
  --header "Authorization: Bearer $api_key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  --report junit --report-dir "$root/$report") || status=$?

if [ "$status" -ne 0 ]; then
  echo "schemathesis: failures (above); server log tail:" >&2
  tail -n 40 "$data/server.log" >&2
fi
echo "schemathesis: exit $status after $(($(date +%s) - started)) s (report: $report)"
exit "$status"

#!/usr/bin/env bash
# Proves that faulthsm.so works against a real SoftHSM token, driven by
# pkcs11-tool: pass-through, fail (with COUNT), delay, stall, logout, the
# call statistics, and the error path when the real module is missing.
#
# Needs: cc, softhsm2, opensc (pkcs11-tool), libp11-kit-dev.
# Usage: bash tests/faulthsm/check.sh
set -euo pipefail

cd "$(dirname "$0")/../.."

for tool in cc softhsm2-util pkcs11-tool; do
	command -v "$tool" >/dev/null ||
		{ echo "faulthsm: $tool not found (apt-get install softhsm2 opensc libp11-kit-dev gcc)" >&2; exit 1; }
done

D=$(mktemp -d)
BG=
cleanup() {
	if [[ -n $BG ]]; then kill "$BG" 2>/dev/null || true; fi
	rm -rf "$D"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The control file is replaced by rename so that no call sees it half-written.
rules() {
	printf '%s\n' "$@" >"$D/control.new"
	mv "$D/control.new" "$D/control"
}
no_rules() { rm -f "$D/control"; }

# --- build: the exact command the tests use, and it must be warning-free ----
cc -shared -fPIC -O2 -Wall -Wextra -I/usr/include/p11-kit-1 \
	-o "$D/faulthsm.so" tests/faulthsm/faulthsm.c tests/faulthsm/rules.c -ldl -lpthread >"$D/cc.log" 2>&1 ||
	{ cat "$D/cc.log" >&2; fail "build failed"; }
[[ ! -s $D/cc.log ]] || { cat "$D/cc.log" >&2; fail "build printed warnings"; }
exports=$(nm -D --defined-only "$D/faulthsm.so" | awk '$2 == "T" { print $3 }')
[[ $exports == C_GetFunctionList ]] || fail "unexpected exports: $exports"
ok "built without warnings; exports only C_GetFunctionList"

# --- a throw-away token -----------------------------------------------------
mkdir "$D/tokens"
cat >"$D/softhsm2.conf" <<EOF
directories.tokendir = $D/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$D/softhsm2.conf
softhsm2-util --init-token --free --label fault --so-pin 12345678 --pin 1234 >/dev/null

unset FAULTHSM_REAL FAULTHSM_STATS
export FAULTHSM_CONTROL=$D/control

p11() { pkcs11-tool --module "$D/faulthsm.so" --token-label fault --login --pin 1234 "$@"; }
direct() { pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label fault --login --pin 1234 "$@"; }

# --- 1. pass-through ---------------------------------------------------------
p11 --keygen --key-type AES:32 --label k1 >"$D/out" 2>&1 || { cat "$D/out"; fail "keygen without rules"; }
p11 --list-objects >"$D/via-shim" 2>&1 || { cat "$D/via-shim"; fail "list-objects without rules"; }
grep -q "label: *k1" "$D/via-shim" || fail "k1 not listed"
direct --list-objects >"$D/via-softhsm" 2>&1
cmp -s "$D/via-shim" "$D/via-softhsm" || fail "listing through faulthsm differs from SoftHSM's"
ok "1. pass-through: keygen and list-objects work, listing identical to SoftHSM's"

# --- 2. fail RV FUNCS COUNT --------------------------------------------------
rules "fail 0x5 C_GenerateKey 1"
if p11 --keygen --key-type AES:32 --label k2 >"$D/out" 2>&1; then
	fail "keygen succeeded under 'fail 0x5 C_GenerateKey 1'"
fi
grep -q CKR_GENERAL_ERROR "$D/out" || { cat "$D/out"; fail "no CKR_GENERAL_ERROR"; }
ok "2a. 'fail 0x5 C_GenerateKey 1': keygen fails with CKR_GENERAL_ERROR"

# COUNT lives in the loading process (shared by its threads, like the
# service's), and pkcs11-tool makes a single C_GenerateKey per process, so
# "the call after" has to be shown within one process: list-objects makes
# many C_GetAttributeValue calls and reports a failed one without aborting.
rules "fail 0x5 C_GetAttributeValue 1"
FAULTHSM_STATS=$D/stats p11 --list-objects >"$D/out" 2>&1 || { cat "$D/out"; fail "list-objects aborted"; }
n=$(grep -c "C_GetAttributeValue(.*CKR_GENERAL_ERROR" "$D/out" || true)
[[ $n == 1 ]] || { cat "$D/out"; fail "expected exactly 1 failed C_GetAttributeValue, got $n"; }
# The label is read after the failed call, so it proves the later calls pass.
grep -q "label: *'\?k1" "$D/out" || { cat "$D/out"; fail "calls after the failed one did not succeed"; }
calls=$(awk '$1 == "C_GetAttributeValue" { print $2 }' "$D/stats")
ok "2b. 'fail 0x5 C_GetAttributeValue 1': 1 of $calls calls in one process failed, the rest succeeded"

# Each process starts with the full COUNT, so the file must change for the
# next keygen to succeed.
no_rules
p11 --keygen --key-type AES:32 --label k2 >"$D/out" 2>&1 || { cat "$D/out"; fail "keygen after the rule was removed"; }
ok "2c. the rule removed, the next keygen succeeds"

# --- 3. delay ----------------------------------------------------------------
rules "delay 500 C_FindObjectsInit"
t0=$(now_ms)
p11 --list-objects >"$D/out" 2>&1 || { cat "$D/out"; fail "list-objects under delay"; }
elapsed=$(( $(now_ms) - t0 ))
(( elapsed >= 500 )) || fail "list-objects took ${elapsed} ms under 'delay 500'"
ok "3. 'delay 500 C_FindObjectsInit': list-objects took ${elapsed} ms"

# --- 4. stall ----------------------------------------------------------------
rules "stall *"
p11 --list-objects >"$D/stalled.out" 2>&1 &
BG=$!
sleep 1
kill -0 "$BG" 2>/dev/null || fail "list-objects finished during 'stall *'"
no_rules
t0=$(now_ms)
while kill -0 "$BG" 2>/dev/null && (( $(now_ms) - t0 < 2000 )); do sleep 0.02; done
kill -0 "$BG" 2>/dev/null && fail "list-objects still stalled 2 s after the rule was removed"
wait "$BG" || { cat "$D/stalled.out"; fail "stalled list-objects failed once released"; }
BG=
elapsed=$(( $(now_ms) - t0 ))
grep -q "label: *k1" "$D/stalled.out" || fail "stalled list-objects lost its output"
ok "4. 'stall *': blocked for 1 s, finished ${elapsed} ms after the rule was removed"

# --- 5. logout ---------------------------------------------------------------
# A private key vanishes from a listing once the token has dropped the login,
# and a private keygen is refused.
p11 --keygen --key-type AES:32 --label secret --private >"$D/out" 2>&1 || { cat "$D/out"; fail "private keygen"; }
rules "logout C_FindObjectsInit"
p11 --list-objects >"$D/out" 2>&1 || { cat "$D/out"; fail "list-objects under logout"; }
grep -q "label: *secret" "$D/out" && fail "private key listed after the logout"
grep -q "label: *k1" "$D/out" || fail "public key missing after the logout"
rules "logout C_GenerateKey"
if p11 --keygen --key-type AES:32 --label k3 --private >"$D/out" 2>&1; then
	fail "private keygen succeeded after the logout"
fi
grep -q CKR_USER_NOT_LOGGED_IN "$D/out" || { cat "$D/out"; fail "no CKR_USER_NOT_LOGGED_IN"; }
no_rules
ok "5. 'logout': the session is logged out before the call is forwarded"

# --- 6. statistics -----------------------------------------------------------
FAULTHSM_STATS=$D/stats p11 --list-objects >/dev/null 2>&1
grep -qx "C_FindObjectsInit 1" "$D/stats" || { cat "$D/stats"; fail "stats: C_FindObjectsInit"; }
grep -qx "C_OpenSession 1" "$D/stats" || { cat "$D/stats"; fail "stats: C_OpenSession"; }
ok "6. FAULTHSM_STATS counts calls"

# --- 7. malformed rules are reported and ignored -----------------------------
rules "fail 0x5 C_GenerateKeyy" "delay 10 C_Bogus,C_Sign" "stall" "fail 0x5 C_FindObjectsInit"
if p11 --list-objects >"$D/out" 2>"$D/err"; then fail "the valid rule was not applied"; fi
n=$(grep -c "^faulthsm: .*line ignored$" "$D/err" || true)
[[ $n == 3 ]] || { cat "$D/err"; fail "expected 3 warnings, got $n"; }
no_rules
ok "7. malformed lines are reported once each and ignored"

# --- 8. the real module cannot be loaded -------------------------------------
if FAULTHSM_REAL=$D/nonexistent.so p11 --list-objects >/dev/null 2>"$D/err"; then
	fail "loaded without a real module"
fi
[[ $(grep -c "^faulthsm: " "$D/err") == 1 ]] || { cat "$D/err"; fail "no single-line reason"; }
ok "8. missing real module: $(grep '^faulthsm: ' "$D/err")"

echo "faulthsm: all checks passed"

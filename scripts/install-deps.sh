#!/usr/bin/env bash
# Installs the Debian packages Coffer needs at run time (softhsm2) and for inspection and
# tests (opensc's pkcs11-tool; gcc and libp11-kit-dev for the fault-injecting module), and
# the extra packages named as arguments (a command, or python3-venv), when they are
# missing. As root it installs them; otherwise
# it says in one line what to run.
set -euo pipefail
packages=()
{ [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null; } || packages+=(softhsm2)
command -v pkcs11-tool >/dev/null || packages+=(opensc)
# The fault tests build tests/faulthsm/faulthsm.c, a PKCS#11 module, against p11-kit's header.
command -v cc >/dev/null || packages+=(gcc)
[ -e /usr/include/p11-kit-1/p11-kit/pkcs11.h ] || packages+=(libp11-kit-dev)
for extra in "$@"; do
  case "$extra" in
    # Not a command: python3 -m venv needs ensurepip, which Debian ships separately.
    python3-venv) python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv) ;;
    # The server binaries (initdb, pg_ctl) live outside PATH, under /usr/lib/postgresql.
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql) ;;
    *) command -v "$extra" >/dev/null || packages+=("$extra") ;;
  esac
done
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "coffer: installing ${packages[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
  echo "coffer: missing ${packages[*]}: run 'sudo apt-get install -y ${packages[*]}' and retry" >&2
  exit 1
fi

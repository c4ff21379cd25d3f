#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, owned by the `postgres` user,
# listening on a free loopback port, with its socket, data and log under one directory.
#
#   scripts/pg-cluster.sh start DIR   prints the admin URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg-cluster.sh stop DIR    stops it (the caller removes DIR)
#
# Nothing is done to a system-wide cluster. Run as root (it switches to `postgres`).
set -euo pipefail
command="${1:?usage: pg-cluster.sh start|stop DIR}"
dir="${2:?usage: pg-cluster.sh start|stop DIR}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$bin/initdb" ] || { echo "coffer: PostgreSQL server binaries missing: run scripts/install-deps.sh postgresql" >&2; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }

case "$command" in
  start)
    mkdir -p "$dir"
    chown postgres: "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_postgres "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    # Enough connections for parallel tests, each with several nodes and pools.
    as_postgres "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
      --options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" --pgdata="$dir/data" --mode=immediate stop >/dev/null || true
    ;;
  *) echo "usage: pg-cluster.sh start|stop DIR" >&2; exit 2 ;;
esac

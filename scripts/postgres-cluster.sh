# Functions that start and stop a throwaway PostgreSQL cluster for the tests.
# Source this file, then call `start_postgres_cluster`; it exports
# VELLUM_TEST_POSTGRES_URL. `stop_postgres_cluster` stops the server and
# removes its directory. The server listens on a Unix socket in its own
# directory and on 127.0.0.1 only, on the port in VELLUM_POSTGRES_PORT or else
# a free one. These settings are in the cluster's postgresql.conf, so a
# restart with pg_ctl (as the cluster's owner) keeps them. It trusts
# every local connection without a password, since it contains only test data
# and lives for one run.

postgres_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Run a command as the cluster's owner: the `postgres` user when running as
# root, since the server refuses to run as root, and the current user otherwise.
as_postgres_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres_cluster() {
  local bin
  if ! bin=$(postgres_bin_dir); then
    echo "== installing PostgreSQL (Debian package postgresql)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(postgres_bin_dir)
  fi

  POSTGRES_CLUSTER_DIR=$(mktemp -d /tmp/vellum-postgres-XXXXXX)
  chmod 0755 "$POSTGRES_CLUSTER_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$POSTGRES_CLUSTER_DIR"; fi

  local port=${VELLUM_POSTGRES_PORT:-}
  if [ -z "$port" ]; then
    port=$(node -e "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });")
  fi

  as_postgres_owner "$bin/initdb" --pgdata="$POSTGRES_CLUSTER_DIR/data" --username=vellum \
    --auth=trust --encoding=UTF8 --no-instructions >"$POSTGRES_CLUSTER_DIR/initdb.log"
  printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $port" \
    "unix_socket_directories = '$POSTGRES_CLUSTER_DIR'" "max_connections = 300" |
    as_postgres_owner tee -a "$POSTGRES_CLUSTER_DIR/data/postgresql.conf" >/dev/null
  as_postgres_owner "$bin/pg_ctl" --pgdata="$POSTGRES_CLUSTER_DIR/data" --wait \
    --log="$POSTGRES_CLUSTER_DIR/server.log" start >/dev/null

  POSTGRES_BIN_DIR=$bin
  export VELLUM_TEST_POSTGRES_URL="postgres://vellum@127.0.0.1:$port/postgres"
  echo "== PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') at 127.0.0.1:$port, data in $POSTGRES_CLUSTER_DIR"
}

stop_postgres_cluster() {
  if [ -n "${POSTGRES_CLUSTER_DIR:-}" ] && [ -d "$POSTGRES_CLUSTER_DIR/data" ]; then
    as_postgres_owner "$POSTGRES_BIN_DIR/pg_ctl" --pgdata="$POSTGRES_CLUSTER_DIR/data" \
      --mode=immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "${POSTGRES_CLUSTER_DIR:-}" ]; then rm -rf "$POSTGRES_CLUSTER_DIR"; fi
}

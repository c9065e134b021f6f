#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests (isnet search on a real RDB storage).
#
#   scripts/pg_test_server.sh start [DIR]   initdb into DIR (default: a new /tmp/isnet-pg.XXXXXX), start the
#                                           server on 127.0.0.1 (TCP only, trust auth), create the database,
#                                           and print its URL as the last line of stdout
#   scripts/pg_test_server.sh stop DIR      stop it (immediate) and delete DIR/data
#
# Uses the Debian `postgresql` package binaries (/usr/lib/postgresql/*/bin, newest first), or $PG_BIN.
# PostgreSQL refuses to run as root: as root, the server runs as $PG_TEST_USER (default postgres, created as
# a system user if missing) and DIR is handed to that user. $PG_TEST_PORT picks the port (default: a free one).
# Exit status 3 means the binaries are not installed (apt-get install -y postgresql); any other failure prints
# the server log.
set -euo pipefail

DB=isnet_test
ROLE=isnet

die() { echo "pg_test_server: $1" >&2; exit "${2:-1}"; }

find_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/initdb" ]] || die "PG_BIN=$PG_BIN has no initdb; unset it, or install the server: apt-get install -y postgresql" 3
    echo "$PG_BIN"; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -n -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return; }
  done
  d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return; }
  die "PostgreSQL server binaries not found (looked in \$PG_BIN, /usr/lib/postgresql/*/bin and PATH); install them: apt-get install -y postgresql" 3
}

# Run a server binary as a non-root user when we are root.
RUN_AS=""
setup_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  RUN_AS=${PG_TEST_USER:-postgres}
  if ! id "$RUN_AS" >/dev/null 2>&1; then
    echo "pg_test_server: creating system user $RUN_AS to run the server (postgres refuses root)" >&2
    useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS"
  fi
}
as_user() { if [[ -n "$RUN_AS" ]]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi; }

free_port() {
  if [[ -n "${PG_TEST_PORT:-}" ]]; then echo "$PG_TEST_PORT"; return; fi
  local p i
  for i in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free TCP port found"
}

start() {
  local dir=${1:-}
  local bin; bin=$(find_bin)
  setup_user
  if [[ -z "$dir" ]]; then
    dir=$(mktemp -d /tmp/isnet-pg.XXXXXX)
    echo "pg_test_server: data in $dir; stop with: $0 stop $dir" >&2
  fi
  mkdir -p "$dir"
  [[ ! -e "$dir/data" ]] || die "$dir/data already exists; stop that server first ($0 stop $dir) or pick another DIR"
  [[ -z "$RUN_AS" ]] || chown "$RUN_AS" "$dir"
  as_user "$bin/initdb" -D "$dir/data" -U "$ROLE" --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  local port try
  for try in 1 2 3; do
    port=$(free_port)
    # TCP on loopback only, no unix socket (test folders can be too long or unreadable for it), no fsync.
    if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
        start >/dev/null; then
      as_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$ROLE" "$DB" \
        || { cat "$dir/server.log" >&2; die "createdb failed"; }
      echo "postgresql://$ROLE@127.0.0.1:$port/$DB" | tee "$dir/url" >/dev/null
      echo "postgresql://$ROLE@127.0.0.1:$port/$DB"
      return 0
    fi
    [[ -z "${PG_TEST_PORT:-}" ]] || break
  done
  cat "$dir/server.log" >&2 2>/dev/null || true
  die "the server did not start (see the log above)"
}

stop() {
  local dir=${1:?usage: $0 stop DIR}
  [[ -d "$dir/data" ]] || return 0
  local bin; bin=$(find_bin)
  setup_user
  as_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir/data"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start [DIR] | stop DIR" >&2; exit 2 ;;
esac

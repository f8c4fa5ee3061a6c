#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests, CI and the local cluster, kept entirely under DIR.
#
#   eval "$(tests/pg/server.sh start DIR)"   start it (or reuse it) and print `export` lines
#   tests/pg/server.sh stop DIR              fast shutdown; DIR can then be removed
#
# Installs Debian's `postgresql` when its server binaries are missing (without starting the
# packaged cluster), runs initdb in DIR/data as an unprivileged user (PostgreSQL refuses root),
# listens on 127.0.0.1 (TLS on) and on a unix socket in DIR. Roles: `consentry` (login, CREATEDB,
# not superuser) and `consentry_tls` (the same, refused without TLS). Only the superuser the
# script administers with, `consentry_admin`, may use the unix socket (peer authentication).
# PORT=N picks the TCP port; otherwise the first free one from 55432 up. See tests/pg/README.md.
set -euo pipefail

PG_OS_USER=consentry-pg      # the system user that runs the server when we are root
ADMIN_ROLE=consentry_admin   # superuser, unix socket only
APP_ROLE=consentry
TLS_ROLE=consentry_tls
APP_DB=consentry
FIRST_PORT=55432
PORT_TRIES=100

die() { echo "tests/pg/server.sh: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

usage() { die "usage: $0 start|stop DIR"; }

# The newest installed server's bin directory, or nothing.
find_pg_bin() {
  local ctl
  ctl=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$ctl" ] && dirname "$ctl"
  return 0
}

# Debian's packages, without starting the packaged cluster: invoke-rc.d asks policy-rc.d,
# and 101 means "do not start services". A policy already in place is left alone.
install_postgresql() {
  echo "tests/pg/server.sh: installing Debian's postgresql" >&2
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    ours=1
  fi
  local rc=0
  {
    as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql openssl >/dev/null
  } >&2 || rc=$?
  if [ -n "$ours" ]; then as_root rm -f "$policy"; fi
  [ "$rc" = 0 ] || die "apt-get install postgresql failed"
}

ensure_installed() {
  PG_BIN=$(find_pg_bin)
  if [ -z "$PG_BIN" ] || ! command -v openssl >/dev/null 2>&1; then
    # One installer at a time when several servers start at once.
    exec 8>>"/tmp/consentry-pg-install.$(id -u).lock"
    flock 8
    PG_BIN=$(find_pg_bin)
    if [ -z "$PG_BIN" ] || ! command -v openssl >/dev/null 2>&1; then install_postgresql; fi
    exec 8>&-
    PG_BIN=$(find_pg_bin)
    [ -n "$PG_BIN" ] || die "no PostgreSQL server under /usr/lib/postgresql after installing"
  fi
}

# Who runs the server: ourselves, or (as root) an unprivileged system user made on first use.
setup_run_user() {
  if [ "$(id -u)" = 0 ]; then
    RUN_USER=$PG_OS_USER
    if ! id -u "$RUN_USER" >/dev/null 2>&1; then
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$RUN_USER" 2>/dev/null || id -u "$RUN_USER" >/dev/null ||
        die "cannot create system user $RUN_USER"
    fi
  else
    RUN_USER=$(id -un)
  fi
}

# Runs a command as the server's user, from DIR (the caller's directory may be closed to it).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$DIR" && runuser -u "$RUN_USER" -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}

admin_psql() {
  as_pg env PGPASSWORD= PGSSLMODE=disable "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$DIR" -p "$PORT" -U "$ADMIN_ROLE" -d postgres "$@"
}

# The postmaster's pid, from its lock file, if that process is a live postgres. A killed one
# stays a zombie until init reaps it (seconds here), and `pg_ctl status` counts it as alive.
live_postmaster() {
  local pid state
  pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = postgres ] || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1 || true)
  [ -n "$state" ] && [ "$state" != Z ]
}

running() { live_postmaster; }

# A postmaster killed a moment ago: wait until it is reaped, or postgres would see its lock
# file's pid alive and refuse to start.
wait_for_dead_postmaster() {
  local pid tries=100
  pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  while [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1 || true)" = Z ] &&
    [ "$tries" -gt 0 ]; do
    sleep 0.1
    tries=$((tries - 1))
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The unix socket path is limited to 107 bytes: DIR/.s.PGSQL.NNNNN must fit.
check_dir_path() {
  case "$DIR" in
    *[!A-Za-z0-9._/-]*) die "DIR may only hold letters, digits and . _ / - : $DIR" ;;
  esac
  [ "${#DIR}" -le 90 ] || die "DIR is too long for a unix socket path (max 90 bytes): $DIR"
}

make_certificate() {
  # Self-signed, CA:FALSE so that rustls/webpki accept it as the server's own certificate
  # while a client trusts this very file as its root.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$DIR/server.key" -out "$DIR/server.crt" 2>/dev/null
  chmod 600 "$DIR/server.key"
  chmod 644 "$DIR/server.crt"
}

write_server_config() {
  cat >"$DATA/consentry.conf" <<EOF
# Written by tests/pg/server.sh at each start.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
password_encryption = scram-sha-256
ssl = on
ssl_cert_file = '$DIR/server.crt'
ssl_key_file = '$DIR/server.key'
log_min_messages = warning
EOF
  grep -qx "include = 'consentry.conf'" "$DATA/postgresql.conf" ||
    echo "include = 'consentry.conf'" >>"$DATA/postgresql.conf"
  # First match wins: the superuser only over the socket; consentry_tls only over TLS.
  cat >"$DATA/pg_hba.conf" <<EOF
# TYPE     DATABASE USER            ADDRESS       METHOD
local      all      $ADMIN_ROLE                   peer map=admin
hostnossl  all      $TLS_ROLE       127.0.0.1/32  reject
hostnossl  all      $TLS_ROLE       ::1/128       reject
hostssl    all      $TLS_ROLE       127.0.0.1/32  scram-sha-256
hostssl    all      $TLS_ROLE       ::1/128       scram-sha-256
host       all      $APP_ROLE       127.0.0.1/32  scram-sha-256
host       all      $APP_ROLE       ::1/128       scram-sha-256
EOF
  {
    echo "admin $RUN_USER $ADMIN_ROLE"
    [ "$RUN_USER" = root ] || echo "admin root $ADMIN_ROLE"
  } >"$DATA/pg_ident.conf"
  if [ "$(id -u)" = 0 ]; then chown "$RUN_USER:" "$DATA/consentry.conf" "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"; fi
}

# Starts the server on $PORT, or on the next free port when PORT was not given and the
# chosen one is taken meanwhile (another server started at the same instant).
start_server() {
  local tries=$PORT_TRIES err
  wait_for_dead_postmaster
  while :; do
    if [ -z "$FIXED_PORT" ]; then
      while port_busy "$PORT"; do PORT=$((PORT + 1)); done
    fi
    write_server_config
    # The server must not inherit our lock descriptors, or it would hold DIR's lock for ever.
    if err=$(as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 -s start 2>&1 >/dev/null 8>&- 9>&-); then
      return 0
    fi
    tries=$((tries - 1))
    if [ -n "$FIXED_PORT" ] || [ "$tries" = 0 ] || ! grep -q 'could not bind\|could not create any TCP/IP sockets' "$DIR/server.log"; then
      echo "$err" >&2
      tail -n 20 "$DIR/server.log" >&2 || true
      die "PostgreSQL did not start (log: $DIR/server.log)"
    fi
    PORT=$((PORT + 1))
  done
}

write_env() {
  local tmp="$DIR/env.sh.tmp" admin_url
  admin_url="postgresql://$ADMIN_ROLE@${DIR//\//%2F}:$PORT/postgres"
  rm -f "$tmp"
  : >"$tmp"
  chmod 600 "$tmp"
  {
    echo "# tests/pg/server.sh: the server in $DIR (source this file, or eval the start output)"
    printf "export %s='%s'\n" \
      PG_TEST_DIR "$DIR" \
      PG_TEST_DATABASE_URL "postgres://$APP_ROLE:$APP_PW@127.0.0.1:$PORT/$APP_DB" \
      PG_TEST_TLS_DATABASE_URL "postgres://$TLS_ROLE:$TLS_PW@localhost:$PORT/$APP_DB?sslmode=require" \
      PG_TEST_CA "$DIR/server.crt" \
      PG_TEST_ADMIN_URL "$admin_url" \
      PGHOST 127.0.0.1 \
      PGPORT "$PORT" \
      PGUSER "$APP_ROLE" \
      PGPASSWORD "$APP_PW" \
      PGDATABASE "$APP_DB"
    # Read back by the next start: the secrets and the port stay the same across restarts.
    printf '# state: %s %s %s\n' "$PORT" "$APP_PW" "$TLS_PW"
  } >"$tmp"
  mv "$tmp" "$DIR/env.sh"
}

create_roles() {
  # The passwords go in on stdin (hex, so safely quoted), never on a command line.
  admin_psql -v app="$APP_ROLE" -v tls="$TLS_ROLE" -v db="$APP_DB" <<SQL
\\set app_pw '$APP_PW'
\\set tls_pw '$TLS_PW'
CREATE ROLE :"app" LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD :'app_pw';
CREATE ROLE :"tls" LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD :'tls_pw';
-- The same rights in the shared database as consentry (its objects, its public schema).
GRANT :"app" TO :"tls";
CREATE DATABASE :"db" OWNER :"app";
SQL
}

cmd_start() {
  ensure_installed
  setup_run_user
  exec 9>"$DIR/.lock"
  flock 9

  local state=""
  if [ -f "$DIR/env.sh" ]; then state=$(sed -n 's/^# state: //p' "$DIR/env.sh"); fi
  if [ -n "$state" ] && [ -f "$DATA/PG_VERSION" ]; then
    read -r PORT APP_PW TLS_PW <<<"$state"
    if running; then
      cat "$DIR/env.sh"
      return 0
    fi
    # Initialised earlier, stopped since: the same port (unless taken), secrets and data.
    if [ -n "$FIXED_PORT" ]; then PORT=$FIXED_PORT; fi
    start_server
    write_env
    cat "$DIR/env.sh"
    return 0
  fi

  # Nothing usable (first start, or one interrupted half-way): initialise from scratch.
  if running; then as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w -s stop || true; fi
  rm -rf "$DATA" "$DIR/env.sh"
  PORT=${FIXED_PORT:-$FIRST_PORT}
  APP_PW=$(openssl rand -hex 24)
  TLS_PW=$(openssl rand -hex 24)
  if [ "$(id -u)" = 0 ]; then chown "$RUN_USER:" "$DIR"; fi
  chmod 700 "$DIR"
  as_pg test -w "$DIR" -a -x "$DIR" ||
    die "$RUN_USER cannot reach $DIR: every folder above it must be searchable (o+x)"
  make_certificate
  if [ "$(id -u)" = 0 ]; then chown "$RUN_USER:" "$DIR/server.key" "$DIR/server.crt"; fi
  as_pg "$PG_BIN/initdb" -D "$DATA" -U "$ADMIN_ROLE" --auth=reject --encoding=UTF8 --no-locale \
    --no-sync --no-instructions >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  start_server
  create_roles
  write_env
  cat "$DIR/env.sh"
}

cmd_stop() {
  PG_BIN=$(find_pg_bin)
  [ -n "$PG_BIN" ] || return 0
  setup_run_user
  exec 9>"$DIR/.lock"
  flock 9
  if running; then
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop
  fi
}

[ $# = 2 ] || usage
if [ "$1" = stop ] && [ ! -d "$2" ]; then exit 0; fi
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
DATA=$DIR/data
check_dir_path
FIXED_PORT=${PORT:-}
if [ -n "$FIXED_PORT" ]; then
  case "$FIXED_PORT" in '' | *[!0-9]*) die "PORT must be a number: $FIXED_PORT" ;; esac
fi
case "$1" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) usage ;;
esac

# shellcheck shell=bash
# Pieces of a local Consentry cluster, sourced by cluster/run.sh and benches/run.sh (from the
# repository root): a throw-away PostgreSQL (tests/pg/server.sh), N nodes over one database
# sharing the operator's secret files, and an nginx round robin in front of them.
#
# Every process started here has its pid in $CLUSTER_DIR/pids/, and cluster_stop ends exactly
# those (after checking that the pid still names our process), then PostgreSQL.
#
# Inputs (set by the caller): BIN, CLUSTER_DIR, ISSUER, NODE_SCHEME (https: each node serves TLS
# with its development certificate; http: --http), NODE_PORTS (array), NODE_ARGS (array, extra
# `serve` arguments), NODE_DIRS (array, optional: a data dir per node; default
# $CLUSTER_DIR/nodeN), FRONT_SCHEME / FRONT_PORT for the balancer.

cluster_die() { echo "cluster: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The one secret file every node needs (README "Several nodes"): the operator's data.key, made
# here before any node starts (no node makes one over PostgreSQL). The signing keys live in the
# database, sealed with it; the DPoP nonce and pairwise subject keys derive from it.
CLUSTER_SHARED_FILES=(data.key)

cluster_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cluster_check_ports() {
  local p
  for p in "$@"; do
    if cluster_port_busy "$p"; then cluster_die "port $p on 127.0.0.1 is taken (choose others: see cluster/run.sh)"; fi
  done
}

# Makes CLUSTER_DIR (searchable by PostgreSQL's unprivileged user, nothing more).
cluster_prepare_dir() {
  mkdir -p "$CLUSTER_DIR/pids"
  chmod 711 "$CLUSTER_DIR"
  chmod 700 "$CLUSTER_DIR/pids"
}

# Starts (or reuses) the throw-away PostgreSQL in $CLUSTER_DIR/pg; exports PG_TEST_* and PG*.
cluster_pg_start() {
  local out
  # Not the balancer's PORT: server.sh takes PORT as its own.
  out=$(env -u PORT tests/pg/server.sh start "$CLUSTER_DIR/pg") || cluster_die "PostgreSQL did not start"
  eval "$out"
}

# Records a pid we started, with a tag to recognise it by in its command line.
cluster_record_pid() { echo "$2" >"$CLUSTER_DIR/pids/$1.pid"; }

# The base URL a node answers on, and the curl options to trust it.
cluster_node_url() { echo "$NODE_SCHEME://127.0.0.1:${NODE_PORTS[$1]}"; }
cluster_node_dir() { echo "${NODE_DIRS[$1]:-$CLUSTER_DIR/node$(($1 + 1))}"; }
cluster_node_curl() {
  local i=$1
  shift
  if [ "$NODE_SCHEME" = https ]; then
    curl --cacert "$(cluster_node_dir "$i")/keys/ca.pem" "$@"
  else
    curl "$@"
  fi
}

# Starts node $1 over $2 (the database URL, passed in the environment, not on the command line).
cluster_node_start() {
  local i=$1 url=$2 dir plain=()
  dir=$(cluster_node_dir "$i")
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$NODE_SCHEME" = http ] && plain=(--http)
  CONSENTRY_DATABASE_URL="$url" setsid "$BIN" serve "${plain[@]}" --data-dir "$dir" \
    --listen "127.0.0.1:${NODE_PORTS[$i]}" --issuer "$ISSUER" "${NODE_ARGS[@]}" \
    >"$dir/node.log" 2>&1 </dev/null &
  cluster_record_pid "node$((i + 1))" $!
}

# Waits (up to 60 s: the first start applies the migrations and seeds the demo) until node $1
# answers /healthz; shows its log otherwise.
cluster_node_wait() {
  local i=$1 pid
  pid=$(cat "$CLUSTER_DIR/pids/node$((i + 1)).pid")
  for _ in $(seq 600); do
    if [ "$NODE_SCHEME" = http ] || [ -f "$(cluster_node_dir "$i")/keys/ca.pem" ]; then
      cluster_node_curl "$i" -sf -o /dev/null "$(cluster_node_url "$i")/healthz" 2>/dev/null && return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$(cluster_node_dir "$i")/node.log" >&2 || true
  cluster_die "node $((i + 1)) did not come up on port ${NODE_PORTS[$i]} (log: $(cluster_node_dir "$i")/node.log)"
}

# The shared files node 1 has, by name.
cluster_shared_present() {
  local f out=()
  for f in "${CLUSTER_SHARED_FILES[@]}"; do [ -f "$(cluster_node_dir 0)/keys/$f" ] && out+=("$f"); done
  echo "${out[*]}"
}

# Starts ${#NODE_PORTS[@]} nodes over database URL $1: the operator's data key made in the
# first node's keys/ (unless there), the first node alone (on a new database it makes the schema
# and the demo data), the data key copied to the others, then the others together.
cluster_nodes_start() {
  local url=$1 n=${#NODE_PORTS[@]} i f first
  first=$(cluster_node_dir 0)/keys
  mkdir -p "$first"
  chmod 700 "$(cluster_node_dir 0)" "$first"
  [ -f "$first/data.key" ] || "$BIN" keys new-data-key "$first/data.key" >/dev/null ||
    cluster_die "cannot make the data key $first/data.key"
  cluster_node_start 0 "$url"
  cluster_node_wait 0
  for ((i = 1; i < n; i++)); do
    mkdir -p "$(cluster_node_dir "$i")/keys"
    chmod 700 "$(cluster_node_dir "$i")" "$(cluster_node_dir "$i")/keys"
    for f in "${CLUSTER_SHARED_FILES[@]}"; do
      [ -f "$first/$f" ] && cp -p "$first/$f" "$(cluster_node_dir "$i")/keys/$f"
    done
  done
  for ((i = 1; i < n; i++)); do cluster_node_start "$i" "$url"; done
  for ((i = 1; i < n; i++)); do cluster_node_wait "$i"; done
}

cluster_ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return 0; fi
  echo "cluster: installing Debian's nginx-light" >&2
  local policy=/usr/sbin/policy-rc.d ours="" rc=0
  # Do not let the package start its own service on port 80.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    ours=1
  fi
  {
    as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
  } >&2 || rc=$?
  if [ -n "$ours" ]; then as_root rm -f "$policy"; fi
  [ "$rc" = 0 ] || cluster_die "apt-get install nginx-light failed"
}

cluster_nginx_bin() { command -v nginx 2>/dev/null || echo /usr/sbin/nginx; }

# The balancer's own certificate (self-signed, CA:FALSE: clients trust this very file).
cluster_front_certificate() {
  local lb=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$lb/front.key" -out "$lb/front.pem" 2>/dev/null || cluster_die "openssl could not make the balancer's certificate"
  chmod 600 "$lb/front.key"
}

# Writes $CLUSTER_DIR/lb/nginx.conf and starts nginx: round robin over the nodes, the
# upstream's address in an X-Node response header, upstream keep-alive. With https nodes the
# balancer verifies each node's certificate against the nodes' development CAs.
cluster_lb_start() {
  local lb=$CLUSTER_DIR/lb i servers="" listen upstream_tls="" user_line=""
  cluster_ensure_nginx
  mkdir -p "$lb/tmp"
  chmod 755 "$lb"
  for i in "${!NODE_PORTS[@]}"; do servers+="    server 127.0.0.1:${NODE_PORTS[$i]};"$'\n'; done
  if [ "$FRONT_SCHEME" = https ]; then
    cluster_front_certificate "$lb"
    listen="listen 127.0.0.1:$FRONT_PORT ssl;
    ssl_certificate $lb/front.pem;
    ssl_certificate_key $lb/front.key;
    ssl_protocols TLSv1.2 TLSv1.3;"
  else
    listen="listen 127.0.0.1:$FRONT_PORT;"
  fi
  if [ "$NODE_SCHEME" = https ]; then
    : >"$lb/nodes-ca.pem"
    for i in "${!NODE_PORTS[@]}"; do cat "$(cluster_node_dir "$i")/keys/ca.pem" >>"$lb/nodes-ca.pem"; done
    # The nodes' certificates name localhost and 127.0.0.1; nginx checks DNS names.
    upstream_tls="proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_trusted_certificate $lb/nodes-ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;"
  fi
  # As root, workers run as www-data (the master keeps root only to bind and read the keys).
  if [ "$(id -u)" = 0 ]; then user_line="user www-data;"; fi
  cat >"$lb/nginx.conf" <<EOF
# Written by cluster/lib.sh.
$user_line
worker_processes ${LB_WORKERS:-1};
daemon off;
pid $lb/nginx.pid;
error_log $lb/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${LB_ACCESS_LOG:-$lb/access.log};
  client_body_temp_path $lb/tmp/body;
  proxy_temp_path $lb/tmp/proxy;
  fastcgi_temp_path $lb/tmp/fastcgi;
  uwsgi_temp_path $lb/tmp/uwsgi;
  scgi_temp_path $lb/tmp/scgi;
  upstream consentry {
$servers    keepalive 64;
  }
  server {
    $listen
    location / {
      proxy_pass $NODE_SCHEME://consentry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      $upstream_tls
      add_header X-Node \$upstream_addr always;
    }
  }
}
EOF
  local nginx
  nginx=$(cluster_nginx_bin)
  "$nginx" -t -q -p "$lb" -e "$lb/error.log" -c "$lb/nginx.conf" || cluster_die "nginx refused its configuration ($lb/nginx.conf)"
  setsid "$nginx" -p "$lb" -e "$lb/error.log" -c "$lb/nginx.conf" </dev/null >"$lb/nginx.out" 2>&1 &
  cluster_record_pid nginx $!
  for _ in $(seq 100); do
    cluster_port_busy "$FRONT_PORT" && return 0
    sleep 0.1
  done
  tail -n 20 "$lb/error.log" >&2 || true
  cluster_die "nginx did not listen on port $FRONT_PORT"
}

# Pids recorded under $CLUSTER_DIR/pids/ whose command line still names $CLUSTER_DIR or one of
# the node dirs (a recycled pid is left alone).
cluster_live_pids() {
  local f pid cmd d
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    for d in "$CLUSTER_DIR" "${NODE_DIRS[@]}"; do
      if [ -n "$d" ] && [[ "$cmd" == *"$d"* ]]; then
        echo "$pid"
        break
      fi
    done
  done
}

# Ends the nodes and nginx (SIGTERM, then SIGKILL after 10 s), then PostgreSQL if we started it.
cluster_stop() {
  local pids pid
  pids=$(cluster_live_pids)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 100); do
      local alive=""
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; done
  fi
  rm -f "$CLUSTER_DIR"/pids/*.pid
  if [ -d "$CLUSTER_DIR/pg" ]; then tests/pg/server.sh stop "$CLUSTER_DIR/pg" || true; fi
}

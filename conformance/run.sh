#!/usr/bin/env bash
# Builds the provider and the conformance runner, starts the provider fresh (temporary SQLite
# file, free port, its own keys and TLS CA), provisions the user and the clients the plans need
# through the operator CLI, runs every plan and writes the reports to $OUT
# (conformance/report by default). Exits non-zero on any FAILED module.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-conformance/report}
# Modules waiting out an expiry (codes, PAR request_uris) hold a slot; 12 keeps both cores busy.
PARALLEL=${PARALLEL:-12}

# The provider is built as `cargo test` builds it (so CI, which has just run the tests, reuses
# that build instead of compiling the provider a second time with other features).
if [ -z "${NO_BUILD:-}" ]; then
  echo "== cargo build (provider and runner)"
  # A failed build stops the run: a stale binary must never be what the plans test.
  if ! build_log=$(cargo test --locked -q --no-run -p consentry --test it 2>&1); then
    echo "$build_log" >&2
    exit 1
  fi
  cargo build --locked -q -p consentry-conformance --bin consentry-conformance
fi
BIN=target/debug/consentry
RUNNER=target/debug/consentry-conformance

WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER="https://localhost:$PORT/oidc"
DATA="$WORK/data"
mkdir -p "$DATA"
export CONSENTRY_DEMO=false
# Modules log in in parallel from fresh browsers; each attempt counts against the login
# throttle until it succeeds, so parallel logins of one account would trip it.
export CONSENTRY_LOGIN__MAX_FAILURES_PER_ACCOUNT=100000 CONSENTRY_LOGIN__MAX_FAILURES_PER_IP=100000
# The runner, as the relying party, serves request objects by reference (request_uri) from its
# own server on loopback over plain http, which the provider fetches only when allowed to reach
# private addresses (development setting).
export CONSENTRY_OUTBOUND__ALLOW_PRIVATE=true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP_PORT=$(free_port)
RP_KID=conformance-rp-rsa
# The runner's server answers https (the logout and CIBA notification URIs, as the suite's
# are) with a certificate for 127.0.0.1 from a CA of its own, which the provider trusts for
# the requests it makes on a client's behalf (outbound.ca_file).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Consentry Conformance RP CA" \
  -keyout "$WORK/rp-ca.key" -out "$WORK/rp-ca.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/rp-ext.cnf"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$WORK/rp-tls.key" -out "$WORK/rp-tls.csr" 2>/dev/null
openssl x509 -req -in "$WORK/rp-tls.csr" -CA "$WORK/rp-ca.pem" -CAkey "$WORK/rp-ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/rp-ext.cnf" -out "$WORK/rp-tls.crt" 2>/dev/null
export CONSENTRY_OUTBOUND__CA_FILE="$WORK/rp-ca.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rp-key.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$WORK/rp-key.pem" -outform DER -out "$WORK/rp-key.der"
RP_N=$(openssl rsa -in "$WORK/rp-key.pem" -noout -modulus | cut -d= -f2 \
  | python3 -c 'import sys,base64; print(base64.urlsafe_b64encode(bytes.fromhex(sys.stdin.read().strip())).decode().rstrip("="))')
RP_JWKS="{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"$RP_KID\",\"n\":\"$RP_N\",\"e\":\"AQAB\"}]}"

# Keys and certificates of the FAPI and private_key_jwt clients: RSA (RS256/PS256) and P-256
# (ES256) signing keys as PKCS#8 DER, and client certificates from a CA of their own that the
# provider trusts for tls_client_auth (RFC 8705 §2.1.1).
for k in rsa1 rsa2; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -outform DER -out "$WORK/$k.der"
done
for k in ec1 ec2; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -outform DER -out "$WORK/$k.der"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Consentry Conformance mTLS CA" \
  -keyout "$WORK/mtls-ca.key" -out "$WORK/mtls-ca.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$WORK/client-ext.cnf"
for n in 1 2; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Consentry Conformance/CN=conformance-client-$n" \
    -keyout "$WORK/client$n.key" -out "$WORK/client$n.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/client$n.csr" -CA "$WORK/mtls-ca.pem" -CAkey "$WORK/mtls-ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/client-ext.cnf" -out "$WORK/client$n.crt" 2>/dev/null
done
export CONSENTRY_MTLS_TRUST_ANCHORS="$WORK/mtls-ca.pem"
# Dynamic registration (RFC 7591) is open to holders of this initial access token.
REGISTRATION_TOKEN="conformance-reg-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CONSENTRY_REGISTRATION_TOKEN="$REGISTRATION_TOKEN"

PASSWORD="conformance-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
secret() { echo "conformance-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

echo "== provisioning (user and static clients) in $DATA"
printf '%s' "$PASSWORD" | "$BIN" users add --data-dir "$DATA" --username conformance-user --password-stdin \
  --email conformance@example.com --name "Conformance User" \
  --claims '{"given_name":"Conformance","family_name":"User","middle_name":"T","nickname":"conf","preferred_username":"conformance","profile":"https://example.com/conformance","picture":"https://example.com/conformance.png","website":"https://example.com","gender":"other","birthdate":"1990-01-01","zoneinfo":"Europe/London","locale":"en-GB","phone_number":"+44 20 7946 0000","phone_number_verified":true,"email_verified":true,"updated_at":1700000000,"address":{"formatted":"1 Test Street, London","street_address":"1 Test Street","locality":"London","postal_code":"N1 1AA","country":"GB"}}' >/dev/null

SCOPE="openid profile email address phone offline_access"
CODE_ONLY='"grant_types":["authorization_code","refresh_token"],"response_types":["code"]'
# Response types returning tokens from the authorization endpoint are opt-in per client.
FRONT_CHANNEL='"grant_types":["authorization_code","implicit","refresh_token"],"response_types":["code","code id_token","code token","code id_token token","id_token","id_token token"]'
add_client() { # name auth_method [role] [grant and response types]
  local id="conformance-$1" sec role="${3:-$2}" types="${4:-$CODE_ONLY}"
  sec=$(secret)
  "$BIN" clients add --data-dir "$DATA" --metadata "{\"client_id\":\"$id\",\"client_secret\":\"$sec\",\"client_name\":\"Conformance $1\",\"redirect_uris\":[\"https://rp.conformance.test/callback\",\"https://rp.conformance.test/callback2\"],\"token_endpoint_auth_method\":\"$2\",$types,\"scope\":\"$SCOPE\"}" >/dev/null
  printf '"%s":{"client_id":"%s","client_secret":"%s","redirect_uri":"https://rp.conformance.test/callback","redirect_uri2":"https://rp.conformance.test/callback2"}' "$role" "$id" "$sec"
}
# A client that signs with a key (KEYNAME: rsa1, rsa2, ec1, ec2 as ALG) and, when CERTNAME
# (client1, client2) is given, presents that certificate; MEMBERS are its metadata members
# beyond client_id, client_name, redirect_uris, scope and jwks. Prints its runner entry.
add_keyed_client() { # role keyname alg certname members [redirect_uri]
  local role=$1 key=$2 alg=$3 cert=$4 members=$5 id="conformance-${1//_/-}" jwks tls=""
  local redirect=${6:-https://rp.conformance.test/callback}
  jwks=$("$RUNNER" --public-jwk "$WORK/$key.der" --alg "$alg" --kid "$key")
  "$BIN" clients add --data-dir "$DATA" --metadata "{\"client_id\":\"$id\",\"client_name\":\"Conformance $role\",\"redirect_uris\":[\"$redirect\",\"https://rp.conformance.test/callback2\"],\"scope\":\"$SCOPE\",\"jwks\":$jwks,$members}" >/dev/null
  if [ -n "$cert" ]; then tls=",\"tls\":{\"cert_file\":\"$WORK/$cert.crt\",\"key_file\":\"$WORK/$cert.key\"}"; fi
  printf '"%s":{"client_id":"%s","redirect_uri":"%s","redirect_uri2":"https://rp.conformance.test/callback2","signing_key":{"file":"%s","kid":"%s","alg":"%s"}%s}' \
    "$role" "$id" "$redirect" "$WORK/$key.der" "$key" "$alg" "$tls"
}
# The subject DN a tls_client_auth client registers for client certificate N.
client_dn() { echo "CN=conformance-client-$1,O=Consentry Conformance"; }

CLIENTS="$(add_client basic client_secret_basic),$(add_client basic-2 client_secret_basic client_secret_basic_2),$(add_client post client_secret_post)"
CLIENTS="$CLIENTS,$(add_client front-channel client_secret_basic client_secret_basic_front_channel_tokens "$FRONT_CHANNEL")"
CLIENTS="$CLIENTS,$(add_client front-channel-post client_secret_post client_secret_post_front_channel_tokens "$FRONT_CHANNEL")"
# FAPI 1 Advanced (fapi1-advanced-final-test-plan): two clients per client authentication
# variant, the first signing with PS256, the second with ES256 and registered with the redirect
# URI with a query the plan's second client uses; certificate-bound tokens, so both present
# a certificate whatever their authentication.
FAPI1='"fapi_profile":"fapi1_advanced","grant_types":["authorization_code","implicit","refresh_token"],"response_types":["code id_token","code"],"tls_client_certificate_bound_access_tokens":true,"id_token_signed_response_alg":"PS256","authorization_signed_response_alg":"PS256"'
FAPI1_REDIRECT2="https://rp.conformance.test/callback?dummy1=lorem&dummy2=ipsum"
CLIENTS="$CLIENTS,$(add_keyed_client fapi1_private_key_jwt rsa1 PS256 client1 "$FAPI1,\"token_endpoint_auth_method\":\"private_key_jwt\",\"request_object_signing_alg\":\"PS256\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi1_private_key_jwt_2 ec2 ES256 client2 "$FAPI1,\"token_endpoint_auth_method\":\"private_key_jwt\",\"request_object_signing_alg\":\"ES256\"" "$FAPI1_REDIRECT2")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi1_mtls rsa1 PS256 client1 "$FAPI1,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 1)\",\"request_object_signing_alg\":\"PS256\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi1_mtls_2 ec2 ES256 client2 "$FAPI1,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 2)\",\"request_object_signing_alg\":\"ES256\"" "$FAPI1_REDIRECT2")"
# The dynamic plan registers its clients itself; the runner takes their RSA keys (ring cannot
# generate RSA keys) and redirect_uri from these two templates (no client_id: each module
# registers its own client). The second is oidcc-refresh-token's second client and the key
# oidcc-refresh-token-rp-key-rotation rotates to.
dynamic_template() { # role keyfile
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null \
    | openssl pkcs8 -topk8 -nocrypt -outform DER -out "$2"
  printf '"%s":{"client_id":"","redirect_uri":"https://rp.conformance.test/callback","signing_key":{"file":"%s","kid":"","alg":"RS256"}}' "$1" "$2"
}
CLIENTS="$CLIENTS,$(dynamic_template dynamic "$WORK/dynamic-rsa1.der"),$(dynamic_template dynamic_2 "$WORK/dynamic-rsa2.der")"
# The OIDCC plans' client_registration=dynamic_client variant: its templates (first and second client).
CLIENTS="$CLIENTS,$(dynamic_template dynamic_client "$WORK/dynamic-client-rsa1.der"),$(dynamic_template dynamic_client_2 "$WORK/dynamic-client-rsa2.der")"
# The hybrid plan's oidcc-refresh-token: its second client, with the hybrid response types.
CLIENTS="$CLIENTS,$(add_client front-channel-2 client_secret_basic client_secret_basic_front_channel_tokens_2 "$FRONT_CHANNEL")"

# The FAPI 2 clients (fapi2_<client_auth_type>_<sender_constrain>, and the suite's second
# client as <role>_2, whose registered redirect_uri carries a query of its own as the suite's
# instructions ask): profile fapi2, PAR required, code only, PS256 (first) and ES256 (second)
# keys, certificate-bound or DPoP-bound tokens.
add_fapi2_clients() { # auth sender [signed]
  local auth=$1 sender=$2 role="fapi2_$1_$2" n key alg cert members signed=${3:-}
  if [ -n "$signed" ]; then role="fapi2_signed_$1_$2"; fi
  for n in 1 2; do
    if [ "$n" = 1 ]; then key=rsa1 alg=PS256; else key=ec2 alg=ES256; fi
    members='"fapi_profile":"fapi2","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"require_pushed_authorization_requests":true'
    cert=""
    if [ "$auth" = mtls ]; then
      members="$members,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn $n)\""
      cert=client$n
    else
      members="$members,\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"$alg\""
    fi
    if [ "$sender" = mtls ]; then
      members="$members,\"tls_client_certificate_bound_access_tokens\":true"
      cert=client$n
    else
      members="$members,\"dpop_bound_access_tokens\":true"
    fi
    if [ -n "$signed" ]; then
      members="$members,\"require_signed_request_object\":true,\"request_object_signing_alg\":\"$alg\",\"authorization_signed_response_alg\":\"PS256\""
    fi
    if [ "$n" = 1 ]; then
      printf '%s' "$(add_keyed_client "$role" "$key" "$alg" "$cert" "$members")"
    else
      printf ',%s' "$(add_keyed_client "${role}_2" "$key" "$alg" "$cert" "$members" "https://rp.conformance.test/callback?dummy1=lorem&dummy2=ipsum")"
    fi
  done
}
# The Message Signing plan's (signed requests only).
for fapi2_variant in "private_key_jwt dpop" "private_key_jwt mtls" "mtls dpop" "mtls mtls" \
  "private_key_jwt dpop signed" "private_key_jwt mtls signed" "mtls dpop signed" "mtls mtls signed"; do
  # shellcheck disable=SC2086
  CLIENTS="$CLIENTS,$(add_fapi2_clients $fapi2_variant)"
done

# The logout plans' clients (client_secret_basic, code): as the suite asks of static clients,
# their URIs are on the relying party's own base URL (the runner's server, which records the
# logout requests it receives): redirect_uri .../callback, post_logout_redirect_uris
# .../post_logout_redirect, and .../backchannel_logout or .../frontchannel_logout.
RP_BASE="https://127.0.0.1:$RP_PORT"
add_logout_client() { # role [members]
  local role=$1 members=${2:-} id="conformance-${1//_/-}" sec
  sec=$(secret)
  "$BIN" clients add --data-dir "$DATA" --metadata "{\"client_id\":\"$id\",\"client_secret\":\"$sec\",\"client_name\":\"Conformance $role\",\"redirect_uris\":[\"$RP_BASE/callback\"],\"post_logout_redirect_uris\":[\"$RP_BASE/post_logout_redirect\"],\"token_endpoint_auth_method\":\"client_secret_basic\",$CODE_ONLY,\"scope\":\"$SCOPE\"$members}" >/dev/null
  printf '"%s":{"client_id":"%s","client_secret":"%s","redirect_uri":"%s/callback","post_logout_redirect_uri":"%s/post_logout_redirect"' "$role" "$id" "$sec" "$RP_BASE" "$RP_BASE"
  case "$members" in
    *backchannel_logout_uri*) printf ',"backchannel_logout_uri":"%s/backchannel_logout"' "$RP_BASE" ;;
    *frontchannel_logout_uri*) printf ',"frontchannel_logout_uri":"%s/frontchannel_logout"' "$RP_BASE" ;;
  esac
  printf '}'
}
CLIENTS="$CLIENTS,$(add_logout_client logout)"
CLIENTS="$CLIENTS,$(add_logout_client logout_backchannel ",\"backchannel_logout_uri\":\"$RP_BASE/backchannel_logout\",\"backchannel_logout_session_required\":true")"
CLIENTS="$CLIENTS,$(add_logout_client logout_frontchannel ",\"frontchannel_logout_uri\":\"$RP_BASE/frontchannel_logout\",\"frontchannel_logout_session_required\":true")"
# FAPI-CIBA (fapi-ciba-id1-test-plan, plain_fapi, poll, mtls): a client of the CIBA grant that
# authenticates with its certificate and signs its backchannel requests with PS256.
FAPI_CIBA='"fapi_profile":"fapi1_advanced","grant_types":["urn:openid:params:grant-type:ciba","refresh_token"],"response_types":[],"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"PS256","tls_client_certificate_bound_access_tokens":true,"id_token_signed_response_alg":"PS256"'
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_mtls rsa1 PS256 client1 "$FAPI_CIBA,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 1)\"")"
# The plan's second clients (signed-by-other-client, and the mtls modules that swap in the
# second client's client_id): the other key and certificate.
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_mtls_2 rsa2 PS256 client2 "$FAPI_CIBA,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 2)\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_private_key_jwt_2 rsa1 PS256 client1 "$FAPI_CIBA,\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"PS256\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_private_key_jwt rsa2 PS256 client2 "$FAPI_CIBA,\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"PS256\"")"

# The same in ping mode (ciba_mode=ping): the provider pings the runner's https notification
# endpoint (CIBA §10.2), with the plan's own clients.
FAPI_CIBA_PING="${FAPI_CIBA/\"poll\"/\"ping\"},\"backchannel_client_notification_endpoint\":\"$RP_BASE/ciba-notification-endpoint\""
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_ping_mtls rsa1 PS256 client1 "$FAPI_CIBA_PING,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 1)\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_ping_mtls_2 rsa2 PS256 client2 "$FAPI_CIBA_PING,\"token_endpoint_auth_method\":\"tls_client_auth\",\"tls_client_auth_subject_dn\":\"$(client_dn 2)\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_ping_private_key_jwt_2 rsa1 PS256 client1 "$FAPI_CIBA_PING,\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"PS256\"")"
CLIENTS="$CLIENTS,$(add_keyed_client fapi_ciba_ping_private_key_jwt rsa2 PS256 client2 "$FAPI_CIBA_PING,\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"PS256\"")"

# The FAPI 2 plain_oauth variants' protected resource (resource.resourceUrl): a gateway route
# whose origin is the runner's own server, which answers only requests carrying the identity
# the gateway signs.
cat >"$WORK/provider.toml" <<TOML
[[gateway.routes]]
method = "GET"
path = "/resource"
scopes = ["email"]
upstream = "http://127.0.0.1:$RP_PORT"
TOML

echo "== starting the provider on port $PORT"
"$BIN" serve --config "$WORK/provider.toml" --data-dir "$DATA" --listen "127.0.0.1:$PORT" --issuer "$ISSUER" >"$WORK/provider.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  if [ -f "$DATA/keys/ca.pem" ] && curl -sf --cacert "$DATA/keys/ca.pem" "https://localhost:$PORT/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/provider.log"; echo "provider exited"; exit 2; fi
  sleep 0.2
done

cat >"$WORK/runner.json" <<JSON
{"discovery_url":"$ISSUER/.well-known/openid-configuration","ca_file":"$DATA/keys/ca.pem",
 "user":{"username":"conformance-user","password":"$PASSWORD"},
 "clients":{$CLIENTS},
 "rp_listen":"127.0.0.1:$RP_PORT","rp_rsa_key_file":"$WORK/rp-key.der","rp_kid":"$RP_KID",
 "registration_token":"$REGISTRATION_TOKEN","resource_url":"$ISSUER/gateway/resource",
 "rotate_keys_command":["$PWD/$BIN","keys","rotate","--data-dir","$DATA"]}
JSON

echo "== running the plans"
START=$(date +%s)
set +e
"$RUNNER" --config "$WORK/runner.json" --out "$OUT" --parallel "$PARALLEL" \
  --rp-tls-cert "$WORK/rp-tls.crt" --rp-tls-key "$WORK/rp-tls.key" --rp-tls-ca "$WORK/rp-ca.pem" "$@"
STATUS=$?
set -e
echo "run time: $(( $(date +%s) - START )) s"
if [ "$STATUS" -ne 0 ]; then echo "== provider log (last 40 lines)"; tail -40 "$WORK/provider.log"; fi
exit "$STATUS"

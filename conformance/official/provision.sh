#!/usr/bin/env bash
# Provisions a Consentry deployment for the OpenID Foundation's hosted conformance suite:
# generates each test client's keys and certificate, registers the clients with
# `consentry clients add` (fixed client_ids, so re-running replaces them), adds the test user,
# and renders the plan configurations in plans/ into $OUT with every placeholder filled.
#
#   ISSUER=https://op.example.com/oidc DATA_DIR=/var/lib/consentry ./provision.sh
#
# Environment:
#   ISSUER                (required) the provider's issuer, as discovery publishes it
#   DATA_DIR              (required) the provider's data folder (as given to `serve --data-dir`)
#   SUITE_BASE            the suite's base URL [https://www.certification.openid.net]
#   ALIAS_PREFIX          prefix of every plan alias (aliases must be unique on the suite) [consentry]
#   OUT                   where keys and rendered configurations go [./out]
#   CONSENTRY             the consentry binary [consentry]
#   INITIAL_ACCESS_TOKEN  the server's `registration_token`, for the dynamic-registration plans
#   TEST_USER / TEST_PASSWORD  the user the suite's browser logs in as [oidf / generated]
#   PLAIN_RESOURCE_URL    the resource the FAPI 2 plain_oauth configurations call: a gateway
#                         route (`[[gateway.routes]]`, scope accounts:read) in front of your
#                         API [$ISSUER/gateway/accounts]
#   RESPONSE_TYPES        JSON array of response types the OIDC clients register
#                         [["code","code id_token","id_token"]]; add "code token",
#                         "code id_token token" and "id_token token" where the provider offers them
set -euo pipefail
cd "$(dirname "$0")"
: "${ISSUER:?set ISSUER to the provider's issuer}"
: "${DATA_DIR:?set DATA_DIR to the provider's data folder}"
SUITE_BASE="${SUITE_BASE:-https://www.certification.openid.net}"
ALIAS_PREFIX="${ALIAS_PREFIX:-consentry}"
OUT="${OUT:-./out}"
CONSENTRY="${CONSENTRY:-consentry}"
INITIAL_ACCESS_TOKEN="${INITIAL_ACCESS_TOKEN:-}"
TEST_USER="${TEST_USER:-oidf}"
PLAIN_RESOURCE_URL="${PLAIN_RESOURCE_URL:-$ISSUER/gateway/accounts}"
TEST_PASSWORD="${TEST_PASSWORD:-$(openssl rand -hex 16)}"
RESPONSE_TYPES="${RESPONSE_TYPES:-[\"code\",\"code id_token\",\"id_token\"]}"
ISSUER="${ISSUER%/}"
SUITE_BASE="${SUITE_BASE%/}"
# The host the browser automation matches (login and consent live at /interaction/...).
OP_ORIGIN="$(printf '%s' "$ISSUER" | sed -E 's#^(https://[^/]+).*#\1#')"
mkdir -p "$OUT/keys"

# An RSA key (PS256/RS256) and a self-signed certificate made from it, per client; the
# certificate is the client's mTLS identity (self_signed_tls_client_auth) and its x5c is
# published in the client's JWKS.
keypair() {
  local name="$1" dir="$OUT/keys/$1"
  mkdir -p "$dir"
  if [ ! -f "$dir/key.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
    openssl req -x509 -new -key "$dir/key.pem" -days 730 -subj "/CN=$name/O=Consentry conformance" \
      -out "$dir/cert.pem" 2>/dev/null
  fi
  python3 - "$dir" "$name" <<'PY'
import base64, json, re, subprocess, sys
d, name = sys.argv[1], sys.argv[2]
text = subprocess.run(["openssl", "rsa", "-in", f"{d}/key.pem", "-noout", "-text"],
                      capture_output=True, text=True, check=True).stdout
def field(label):
    m = re.search(label + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
e = int(re.search(r"publicExponent: (\d+)", text).group(1))
der = subprocess.run(["openssl", "x509", "-in", f"{d}/cert.pem", "-outform", "DER"],
                     capture_output=True, check=True).stdout
public = {"kty": "RSA", "kid": name, "use": "sig", "n": b64(field("modulus")),
          "e": b64(e.to_bytes((e.bit_length() + 7) // 8, "big")),
          "x5c": [base64.b64encode(der).decode()]}
private = dict(public, d=b64(field("privateExponent")), p=b64(field("prime1")),
               q=b64(field("prime2")), dp=b64(field("exponent1")), dq=b64(field("exponent2")),
               qi=b64(field("coefficient")))
json.dump({"keys": [public]}, open(f"{d}/public.jwks", "w"))
json.dump({"keys": [private]}, open(f"{d}/private.jwks", "w"))
PY
}

# Registers (or replaces) one client; its metadata is completed with the fixed client_id.
register() {
  local id="$1" meta="$2"
  "$CONSENTRY" clients remove "$id" --data-dir "$DATA_DIR" >/dev/null 2>&1 || true
  meta="$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m["client_id"]=sys.argv[2]; print(json.dumps(m))' "$meta" "$id")"
  "$CONSENTRY" clients add --data-dir "$DATA_DIR" --metadata "$meta"
}

# The metadata of a client for `kind` (the plan family) and alias.
metadata() {
  local kind="$1" alias="$2" key="$3"
  local cb="$SUITE_BASE/test/a/$alias/callback" implicit="$SUITE_BASE/test/a/$alias/implicit"
  local jwks; jwks="$(cat "$OUT/keys/$key/public.jwks")"
  case "$kind" in
    oidcc) cat <<J
{"client_name": "OIDF $alias", "redirect_uris": ["$cb", "$implicit"],
 "response_types": $RESPONSE_TYPES, "grant_types": ["authorization_code", "implicit", "refresh_token"],
 "token_endpoint_auth_method": "client_secret_basic", "jwks": $jwks,
 "scope": "openid profile email address phone offline_access",
 "logo_uri": "$SUITE_BASE/images/openid.png", "policy_uri": "$SUITE_BASE/login.html",
 "tos_uri": "$SUITE_BASE/login.html"}
J
    ;;
    fapi1-private_key_jwt|fapi1-mtls)
      # The plan's second client redirects to the callback with a query
      # (AddRedirectUriQuerySuffix): both must be registered.
      local auth=private_key_jwt; [ "$kind" = fapi1-mtls ] && auth=self_signed_tls_client_auth
      cat <<J
{"client_name": "OIDF $alias", "fapi_profile": "fapi1_advanced", "redirect_uris": ["$cb", "$cb?dummy1=lorem&dummy2=ipsum"],
 "response_types": ["code id_token", "code"], "grant_types": ["authorization_code", "implicit", "refresh_token"],
 "token_endpoint_auth_method": "$auth", "token_endpoint_auth_signing_alg": "PS256", "jwks": $jwks,
 "request_object_signing_alg": "PS256", "id_token_signed_response_alg": "PS256",
 "authorization_signed_response_alg": "PS256", "tls_client_certificate_bound_access_tokens": true,
 "scope": "openid accounts:read"}
J
    ;;
    fapi2-*)
      # fapi2-<auth>-<sender>-<openid>
      local auth=private_key_jwt sender=dpop scope="openid accounts:read"
      [[ "$kind" == fapi2-mtls-* ]] && auth=self_signed_tls_client_auth
      [[ "$kind" == *-mtls-openid || "$kind" == *-mtls-plain ]] && sender=mtls
      [[ "$kind" == *-plain ]] && scope="accounts:read"
      local dpop=false mtlsbound=false
      [ "$sender" = dpop ] && dpop=true
      [ "$sender" = mtls ] && mtlsbound=true
      cat <<J
{"client_name": "OIDF $alias", "fapi_profile": "fapi2", "redirect_uris": ["$cb"],
 "response_types": ["code"], "grant_types": ["authorization_code", "refresh_token"],
 "require_pushed_authorization_requests": true,
 "token_endpoint_auth_method": "$auth", "token_endpoint_auth_signing_alg": "PS256", "jwks": $jwks,
 "request_object_signing_alg": "PS256", "id_token_signed_response_alg": "PS256",
 "authorization_signed_response_alg": "PS256",
 "dpop_bound_access_tokens": $dpop, "tls_client_certificate_bound_access_tokens": $mtlsbound,
 "scope": "$scope"}
J
    ;;
  esac
}

# Fills a template's placeholders; "@NAME@" in quotes is replaced by JSON (objects, strings).
render() {
  local template="$1" alias="$2" c1="$3" c2="$4" out="$5"
  python3 - "$template" "$out" <<PY
import json, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
def jwks(k): return open("$OUT/keys/" + k + "/private.jwks").read()
def pem(k, f): return json.dumps(open("$OUT/keys/" + k + "/" + f).read())
values = {
  "ISSUER": json.dumps("$ISSUER"), "OP_ORIGIN": json.dumps("$OP_ORIGIN"),
  "ALIAS": json.dumps("$alias"), "SUITE_BASE": json.dumps("$SUITE_BASE"),
  "CLIENT1_ID": json.dumps("$c1"), "CLIENT2_ID": json.dumps("$c2"),
  "CLIENT1_SECRET": json.dumps("${SECRET1:-}"), "CLIENT2_SECRET": json.dumps("${SECRET2:-}"),
  "CLIENT1_JWKS": jwks("$c1") if "$c1" else "null", "CLIENT2_JWKS": jwks("$c2") if "$c2" else "null",
  "MTLS1_CERT": pem("$c1", "cert.pem") if "$c1" else "null",
  "MTLS1_KEY": pem("$c1", "key.pem") if "$c1" else "null",
  "MTLS2_CERT": pem("$c2", "cert.pem") if "$c2" else "null",
  "MTLS2_KEY": pem("$c2", "key.pem") if "$c2" else "null",
  "INITIAL_ACCESS_TOKEN": json.dumps("$INITIAL_ACCESS_TOKEN"),
  "PLAIN_RESOURCE_URL": json.dumps("$PLAIN_RESOURCE_URL"),
  "TEST_USER": json.dumps("$TEST_USER"), "TEST_PASSWORD": json.dumps("$TEST_PASSWORD"),
}
for k, v in values.items():
    text = text.replace('"@' + k + '@"', v)
    text = text.replace('@' + k + '@', json.loads(v) if v.startswith('"') else v)
config = json.loads(text)  # the result must be valid JSON
config.pop("_provision", None)
json.dump(config, open(dst, "w"), indent=4)
PY
}

# The test user, with every standard claim the scopes release.
"$CONSENTRY" users add --data-dir "$DATA_DIR" --username "$TEST_USER" --password-stdin \
  --email "$TEST_USER@example.com" --name "OIDF Test User" \
  --claims '{"given_name": "OIDF", "family_name": "Tester", "phone_number": "+441234567890", "address": {"country": "GB", "locality": "London"}}' \
  <<<"$TEST_PASSWORD" >/dev/null 2>&1 || echo "note: user $TEST_USER exists already (its password is unchanged)" >&2

secret_of() { python3 -c 'import json,sys; print(json.load(sys.stdin).get("client_secret") or "")'; }

# template file → the client kind it needs ("" for dynamic registration).
for template in plans/*.json; do
  base="$(basename "$template" .json)"
  alias="$ALIAS_PREFIX-$base"
  kind="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("_provision", ""))' "$template")"
  c1="" c2="" SECRET1="" SECRET2=""
  if [ -n "$kind" ]; then
    c1="$alias-1" c2="$alias-2"
    keypair "$c1"; keypair "$c2"
    SECRET1="$(register "$c1" "$(metadata "$kind" "$alias" "$c1")" | secret_of)"
    SECRET2="$(register "$c2" "$(metadata "$kind" "$alias" "$c2")" | secret_of)"
  fi
  render "$template" "$alias" "$c1" "$c2" "$OUT/$base.json"
  echo "$OUT/$base.json  (alias $alias${c1:+, clients $c1 $c2})"
done
echo "test user: $TEST_USER / $TEST_PASSWORD"

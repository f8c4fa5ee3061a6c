"""Interop test: Python's Authlib as the relying party against a running Consentry provider.

Flows, each a named step (`ok - <step>`; the first failure prints `not ok - <step>`, the
error, and exits 1):
  1. authorization code + PKCE S256 (client_secret_basic), the login and consent pages
     driven over HTTP like a browser, the ID token validated the way Authlib's own OpenID
     client does (joserfc JWS against the provider's JWKS, then Authlib's CodeIDToken
     rules: iss, aud, exp/iat, nonce, at_hash), and userinfo;
  2. refresh (rotation), then introspection and revocation (RFC 7662, RFC 7009), and the
     used code replayed (refused);
  3. client_credentials;
  4. private_key_jwt client authentication (Authlib's PrivateKeyJWT, RS256) on the code
     grant, refresh, client_credentials and introspection, and an assertion signed by
     another key (refused).

Env: ISSUER, CA_FILE (the provider's dev CA, TLS verification stays on), CLIENT_ID and
CLIENT_SECRET (client_secret_basic), JWT_CLIENT_ID and PRIVATE_JWK (a private_key_jwt
client and its private RSA key as a JSON JWK with `kid`; the public half is registered),
REDIRECT_URI, USERNAME, PASSWORD.
"""

import json
import os
import sys
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken, UserInfo
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import JWSRegistry

LABEL = "authlib"
TIMEOUT = 10
passed = 0


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"missing env {name}")
    return value


ISSUER = env("ISSUER")
CA_FILE = env("CA_FILE")
CLIENT_ID = env("CLIENT_ID")
CLIENT_SECRET = env("CLIENT_SECRET")
JWT_CLIENT_ID = env("JWT_CLIENT_ID")
PRIVATE_JWK = env("PRIVATE_JWK")
REDIRECT_URI = env("REDIRECT_URI")
USERNAME = env("USERNAME")
PASSWORD = env("PASSWORD")
SCOPE = "openid profile email offline_access"


def step(name, fn):
    global passed
    try:
        out = fn()
    except Exception as err:  # noqa: BLE001 - any failure ends the run with its details
        print(f"not ok - {name}", flush=True)
        traceback.print_exc()
        for attr in ("error", "description"):
            if getattr(err, attr, None):
                print(f"  {attr}: {getattr(err, attr)}", file=sys.stderr)
        print(f"{LABEL}: {passed} passed, 1 failed", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok - {name}", flush=True)
    return out


def check(cond, message):
    if not cond:
        raise AssertionError(message)


# ---------------------------------------------------------------- browsing


class Forms(HTMLParser):
    """Every <form> with its attributes, its <input>s and its <button>s."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({**a, "inputs": [], "buttons": []})
        elif self.forms and tag in ("input", "button"):
            self.forms[-1][tag + "s"].append(a)


class Browser:
    """One user agent: keeps the provider's cookies, follows no redirect by itself."""

    def __init__(self):
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = CA_FILE
        self.http.headers["accept"] = "text/html"

    def get(self, url):
        return self.http.get(url, allow_redirects=False, timeout=TIMEOUT)

    def post(self, url, form):
        # A browser submitting a form sends Origin.
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        return self.http.post(
            url, data=form, headers={"origin": origin}, allow_redirects=False, timeout=TIMEOUT
        )

    @staticmethod
    def redirect(res):
        check(res.status_code == 303, f"expected 303, got {res.status_code}: {res.text[:600]}")
        return urljoin(res.url, res.headers["location"])

    @staticmethod
    def form(res, action_path):
        check(res.status_code == 200, f"expected a page, got {res.status_code}: {res.text[:600]}")
        parser = Forms()
        parser.feed(res.text)
        for f in parser.forms:
            if urlsplit(urljoin(res.url, f.get("action", ""))).path == action_path:
                check(f.get("method", "").lower() == "post", f"form {action_path} is not POST")
                hidden = {i["name"]: i.get("value", "") for i in f["inputs"] if i.get("type") == "hidden"}
                return urljoin(res.url, f["action"]), hidden, f
        raise AssertionError(f"no form {action_path} on {res.url}: {res.text[:1500]}")

    def authorize(self, auth_url, login):
        """Follows `auth_url` through the login (when `login`) and consent pages; returns the
        redirect to the client."""
        interaction = self.redirect(self.get(auth_url))
        path = urlsplit(interaction).path
        same_origin = urlsplit(interaction).netloc == urlsplit(ISSUER).netloc
        check(same_origin and path.startswith("/interaction/"), f"interaction: {interaction}")
        if login:
            action, hidden, f = self.form(self.get(interaction), path + "/login")
            check(any(i.get("type") == "password" for i in f["inputs"]), "password input")
            back = self.redirect(
                self.post(action, {**hidden, "username": USERNAME, "password": PASSWORD})
            )
            check(back == interaction, f"login returns to the interaction, not {back}")
        action, hidden, f = self.form(self.get(interaction), path + "/consent")
        decisions = sorted(b.get("value") for b in f["buttons"] if b.get("name") == "decision")
        check(decisions == ["approve", "deny"], f"decision buttons: {decisions}")
        callback = self.redirect(self.post(action, {**hidden, "decision": "approve"}))
        check(callback.split("?")[0] == REDIRECT_URI, f"redirect to the client: {callback}")
        return callback


# ---------------------------------------------------------------- the provider

# trust_env off: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE in the environment would otherwise
# replace the provider's CA (and proxy variables would reroute loopback).
http = requests.Session()
http.trust_env = False
http.verify = CA_FILE


def discover():
    md = http.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    check(md["issuer"] == ISSUER, f"issuer {md['issuer']}")
    endpoints = ("authorization", "token", "userinfo", "introspection", "revocation")
    for key in [f"{e}_endpoint" for e in endpoints] + ["jwks_uri"]:
        check(md.get(key), key)
    check("S256" in md.get("code_challenge_methods_supported", []), "S256 advertised")
    check("private_key_jwt" in md.get("token_endpoint_auth_methods_supported", []), "private_key_jwt")
    check("client_credentials" in md.get("grant_types_supported", []), "client_credentials")
    return md


md = step("discovery", discover)
jwks = step("jwks", lambda: KeySet.import_key_set(http.get(md["jwks_uri"], timeout=TIMEOUT).json()))


def session(client_id, secret, auth_method):
    s = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=auth_method,
        revocation_endpoint_auth_method=auth_method,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        default_timeout=TIMEOUT,
    )
    s.trust_env = False
    s.verify = CA_FILE
    if auth_method == "private_key_jwt":
        s.register_client_auth_method(PrivateKeyJWT(md["token_endpoint"]))
    return s


def id_token_claims(token, client_id, nonce):
    """What Authlib's OpenID client (OpenIDMixin.parse_id_token) does: the JWS checked against
    the JWKS with the advertised algorithms, then CodeIDToken's rules."""
    decoded = jwt.decode(
        token["id_token"],
        jwks,
        registry=JWSRegistry(algorithms=md["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    check(claims["iss"] == ISSUER, f"iss {claims['iss']}")
    check(claims["nonce"] == nonce, "nonce")
    check("at_hash" in claims, "at_hash present, so it was checked")
    return claims


def code_flow(browser, client, client_id, login):
    """Authorization code + PKCE: the redirect, the pages, the code grant, the ID token."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        md["authorization_endpoint"], code_verifier=verifier, nonce=nonce, prompt="consent"
    )
    q = parse_qs(urlsplit(url).query)
    check(q["code_challenge_method"] == ["S256"] and q["code_challenge"], f"PKCE in {url}")
    callback = browser.authorize(url, login)
    cb = parse_qs(urlsplit(callback).query)
    check(cb.get("state") == [state], "state echoed")
    check(cb.get("iss") == [ISSUER], "iss in the response (RFC 9207)")
    token = client.fetch_token(
        md["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
    )
    check(token["token_type"].lower() == "bearer", f"token_type {token['token_type']}")
    check(token.get("refresh_token"), "refresh_token (offline_access)")
    claims = id_token_claims(token, client_id, nonce)
    # A wrong nonce must fail the same validation: the check above is real.
    try:
        id_token_claims(token, client_id, nonce + "x")
    except Exception:  # noqa: BLE001
        pass
    else:
        raise AssertionError("a wrong nonce was accepted")
    return token, claims["sub"], (callback, state, verifier)


def refresh(client, token, client_id):
    new = client.refresh_token(md["token_endpoint"], refresh_token=token["refresh_token"])
    check(new["access_token"] != token["access_token"], "a new access token")
    check(new.get("refresh_token") and new["refresh_token"] != token["refresh_token"], "rotated")
    if "id_token" in new:
        decoded = jwt.decode(new["id_token"], jwks)
        check(decoded.claims["aud"] in (client_id, [client_id]), "refreshed id_token aud")
    return new


def client_credentials(client):
    token = client.fetch_token(md["token_endpoint"], grant_type="client_credentials", scope="accounts:read")
    check(token["token_type"].lower() == "bearer", f"token_type {token['token_type']}")
    check(token["scope"] == "accounts:read", f"scope {token.get('scope')}")
    check("refresh_token" not in token, "no refresh token for client_credentials (RFC 6749 §4.4.3)")
    return token


browser = Browser()

# 1. Code + PKCE, client_secret_basic.
basic = session(CLIENT_ID, CLIENT_SECRET, "client_secret_basic")
tokens, sub, used_code = step(
    "authorization code grant (PKCE S256, client_secret_basic, id_token validated)",
    lambda: code_flow(browser, basic, CLIENT_ID, login=True),
)


def userinfo():
    info = UserInfo(basic.get(md["userinfo_endpoint"]).json())
    check(info["sub"] == sub, f"userinfo sub {info.get('sub')}")
    check(info.get("email"), f"email in {dict(info)}")


step("userinfo", userinfo)

# 2. Refresh, then the refreshed tokens introspected and revoked.
refreshed = step("refresh token grant (rotation)", lambda: refresh(basic, tokens, CLIENT_ID))


def introspect(client, token, active):
    info = client.introspect_token(md["introspection_endpoint"], token=token).json()
    check(info["active"] is active, f"active should be {active}: {info}")
    if active:
        check(info["client_id"] == client.client_id, f"client_id in {info}")
    return info


step("introspect access token", lambda: introspect(basic, refreshed["access_token"], True))


def revoke():
    res = basic.revoke_token(md["revocation_endpoint"], token=refreshed["refresh_token"])
    check(res.status_code == 200, f"revocation: {res.status_code} {res.text}")
    introspect(basic, refreshed["refresh_token"], False)


step("revoke refresh token", revoke)


def code_replay_refused():
    # RFC 6749 §4.1.2: an authorization code is single use.
    callback, state, verifier = used_code
    try:
        basic.fetch_token(
            md["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
        )
    except Exception as err:  # noqa: BLE001
        check(getattr(err, "error", None) == "invalid_grant", f"error {err!r}")
    else:
        raise AssertionError("a replayed code was accepted")


step("replayed code is invalid_grant", code_replay_refused)

# 3. Client credentials.
step("client credentials grant (client_secret_basic)", lambda: client_credentials(basic))

# 4. private_key_jwt: the same browser is signed in; consent for the second client.
key = RSAKey.import_key(json.loads(PRIVATE_JWK))
jwt_client = session(JWT_CLIENT_ID, key, "private_key_jwt")
jwt_tokens, _, _ = step(
    "authorization code grant (PKCE S256, private_key_jwt, id_token validated)",
    lambda: code_flow(browser, jwt_client, JWT_CLIENT_ID, login=False),
)
step("refresh token grant (private_key_jwt)", lambda: refresh(jwt_client, jwt_tokens, JWT_CLIENT_ID))
cc = step("client credentials grant (private_key_jwt)", lambda: client_credentials(jwt_client))
step("introspect access token (private_key_jwt)", lambda: introspect(jwt_client, cc["access_token"], True))


def wrong_key_refused():
    # RFC 7523 §3: an assertion not signed by the client's registered key is invalid_client.
    other = session(JWT_CLIENT_ID, RSAKey.generate_key(2048, {"kid": key.kid}), "private_key_jwt")
    try:
        other.fetch_token(md["token_endpoint"], grant_type="client_credentials", scope="accounts:read")
    except Exception as err:  # noqa: BLE001
        check(getattr(err, "error", None) == "invalid_client", f"error {err!r}")
    else:
        raise AssertionError("an assertion signed by another key was accepted")


step("private_key_jwt signed by another key is invalid_client", wrong_key_refused)

print(f"{LABEL}: {passed} passed, 0 failed", flush=True)

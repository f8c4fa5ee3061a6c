// FAPI 2.0-style interop test: openid-client v6 (functional API) against a running
// Consentry provider, using the FAPI 2.0 Security Profile building blocks:
//
//   * pushed authorization requests (RFC 9126) with PKCE S256,
//   * private_key_jwt client authentication (RFC 7523, ES256),
//   * DPoP sender-constrained tokens (RFC 9449): proofs on PAR, token, userinfo and
//     refresh; the access token is bound to the DPoP key (cnf.jkt, RFC 7638).
//
// The login and consent pages are driven the way a browser would drive them: plain
// fetch with manual redirects and a small cookie jar (same helpers as flow.mjs, copied
// so this script stays self-contained). Every step asserts with node:assert/strict and
// prints `ok - <step>`; the first failure prints `not ok - <step>` plus the error and
// exits 1.
//
// Env: ISSUER, CLIENT_ID, PRIVATE_JWK (the client's private EC P-256 signing key as a
// JSON JWK with `kid`, alg ES256), REDIRECT_URI, USERNAME, PASSWORD.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification
// stays on.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const PRIVATE_JWK = env('PRIVATE_JWK');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

const PAGE_TIMEOUT_MS = 15_000;

// Whole-run watchdog so a hung server can never hang the test runner.
const watchdog = setTimeout(() => {
  console.error('fapi2: timed out after 120s');
  process.exit(1);
}, 120_000);
watchdog.unref();

// ---------------------------------------------------------------- step runner

let passed = 0;

async function step(name, fn) {
  try {
    const out = await fn();
    passed += 1;
    console.log(`ok - ${name}`);
    return out;
  } catch (err) {
    console.log(`not ok - ${name}`);
    await readErrorBody(err);
    console.error(describeError(err));
    console.log(`fapi2: ${passed} passed, 1 failed`);
    process.exit(1);
  }
}

// WWWAuthenticateChallengeError leaves the response body unread; keep it for the report.
async function readErrorBody(err) {
  const res = err?.response;
  if (res instanceof Response && !res.bodyUsed) {
    try {
      err.responseBody = await res.text();
    } catch {
      // already consumed or aborted
    }
  }
}

function describeError(err) {
  const parts = [err?.stack ?? String(err)];
  // openid-client / oauth4webapi errors carry the protocol details here.
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (err && err[k] !== undefined) parts.push(`  ${k}: ${JSON.stringify(err[k])}`);
  }
  if (err?.cause !== undefined) {
    let cause = err.cause;
    if (cause instanceof URLSearchParams) cause = Object.fromEntries(cause);
    if (cause instanceof Error) cause = cause.stack ?? String(cause);
    try {
      parts.push(`  cause: ${typeof cause === 'string' ? cause : JSON.stringify(cause)}`);
    } catch {
      parts.push(`  cause: ${String(cause)}`);
    }
  }
  // The raw HTTP response (status + headers) when the library kept it, so a server
  // deviation can be reported precisely.
  const res = err?.response;
  if (res instanceof Response) {
    parts.push(`  response: ${res.status} ${res.url}`);
    for (const [k, v] of res.headers) parts.push(`    ${k}: ${v}`);
    if (err.responseBody !== undefined) parts.push(`  body: ${err.responseBody.slice(0, 1000)}`);
  }
  return parts.join('\n');
}

// ---------------------------------------------------------------- cookie jar

// Keeps name=value of every cookie the provider sets and sends them all back.
// All requests go to the single provider origin, so no domain/path matching is
// needed. Also checks the cookie attributes the contract promises.
class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      assert.ok(eq > 0, `malformed Set-Cookie: ${header}`);
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = new Map(
        attrs.map((a) => {
          const i = a.indexOf('=');
          return i < 0 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
        }),
      );
      assert.ok(name.startsWith('__Host-'), `cookie ${name} should use the __Host- prefix: ${header}`);
      assert.ok(attr.has('secure'), `cookie ${name} is not Secure: ${header}`);
      assert.ok(attr.has('httponly'), `cookie ${name} is not HttpOnly: ${header}`);
      assert.equal(attr.get('samesite')?.toLowerCase(), 'lax', `cookie ${name} is not SameSite=Lax: ${header}`);
      assert.equal(attr.get('path'), '/', `__Host- cookie ${name} must have Path=/: ${header}`);
      assert.ok(!attr.has('domain'), `__Host- cookie ${name} must not have Domain: ${header}`);

      const maxAge = attr.has('max-age') ? Number(attr.get('max-age')) : undefined;
      const expires = attr.has('expires') ? Date.parse(attr.get('expires')) : undefined;
      const deleted = (maxAge !== undefined && maxAge <= 0) ||
        (maxAge === undefined && expires !== undefined && expires <= Date.now());
      if (deleted) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }

  get size() {
    return this.#cookies.size;
  }
}

const jar = new CookieJar();

async function browse(url, { method = 'GET', form } = {}) {
  const headers = {
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'user-agent': 'consentry-interop/1 (openid-client v6)',
  };
  const cookie = jar.header();
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    // A browser submitting a form always sends Origin on POST.
    headers.origin = new URL(url).origin;
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(PAGE_TIMEOUT_MS),
  });
  jar.store(res);
  const text = await res.text();
  return { res, text, url: new URL(url) };
}

function summary({ res, text, url }) {
  return `${url.href} -> ${res.status} location=${res.headers.get('location')} body=${text.slice(0, 600)}`;
}

function expectRedirect(page) {
  assert.equal(page.res.status, 303, `expected 303: ${summary(page)}`);
  const location = page.res.headers.get('location');
  assert.ok(location, `303 without Location: ${summary(page)}`);
  return new URL(location, page.url);
}

// ---------------------------------------------------------------- HTML parsing

function unescapeHtml(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (m, e) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower];
  });
}

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1].toLowerCase();
    if (name in out) continue;
    out[name] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

// Returns every <form> with its attributes, its <input>s and its <button>s.
function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const inner = m[2];
    forms.push({
      ...attrs(m[1]),
      inputs: [...inner.matchAll(/<input\b([^>]*)>/gi)].map((i) => attrs(i[1])),
      buttons: [...inner.matchAll(/<button\b([^>]*)>/gi)].map((b) => attrs(b[1])),
    });
  }
  return forms;
}

function findForm(page, actionPath) {
  const forms = parseForms(page.text);
  const form = forms.find((f) => f.action && new URL(f.action, page.url).pathname === actionPath);
  assert.ok(form, `no <form action="${actionPath}"> on ${page.url.href}; forms: ${JSON.stringify(forms)}\n${page.text.slice(0, 1500)}`);
  assert.equal((form.method ?? '').toLowerCase(), 'post', `form ${actionPath} must be method="post"`);
  return form;
}

function hiddenValue(form, name) {
  const input = form.inputs.find((i) => i.name === name);
  assert.ok(input, `form ${form.action} has no input named ${name}`);
  assert.equal(input.type?.toLowerCase(), 'hidden', `${name} should be a hidden input`);
  assert.ok(input.value, `${name} is empty`);
  return input.value;
}

// ---------------------------------------------------------------- JOSE helpers

function b64urlJson(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

// Decodes (does not verify) a compact JWS; the provider's signature is not what this
// test is about, the binding claims are.
function decodeJwt(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `expected a compact JWS, got ${jwt.slice(0, 40)}…`);
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]) };
}

// RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC or RSA or OKP public key.
async function jwkThumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  const required = {
    EC: ['crv', 'kty', 'x', 'y'],
    RSA: ['e', 'kty', 'n'],
    OKP: ['crv', 'kty', 'x'],
  }[jwk.kty];
  assert.ok(required, `unsupported kty ${jwk.kty}`);
  // Members in lexicographic order, no whitespace.
  const canonical = JSON.stringify(Object.fromEntries(required.map((k) => [k, jwk[k]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

// A protected-resource call that must be refused: openid-client either throws (it
// throws WWWAuthenticateChallengeError on a 401 with WWW-Authenticate, or a
// ResponseBodyError / OperationProcessingError) or, for fetchProtectedResource, may hand
// back the non-2xx Response. Returns { status, wwwAuthenticate, challenges, error,
// detail } for asserting.
async function refusal(promise) {
  let res;
  try {
    res = await promise;
  } catch (err) {
    await readErrorBody(err);
    const r = err?.response instanceof Response ? err.response : undefined;
    const status = err?.status ?? r?.status;
    assert.ok(status !== undefined, `request failed without an HTTP status:\n${describeError(err)}`);
    return {
      status,
      wwwAuthenticate: r?.headers.get('www-authenticate') ?? null,
      challenges: err instanceof client.WWWAuthenticateChallengeError ? err.cause : undefined,
      error: err?.error,
      detail: describeError(err),
    };
  }
  assert.ok(res instanceof Response, `expected a refusal, got ${JSON.stringify(res)}`);
  const body = await res.text();
  return {
    status: res.status,
    wwwAuthenticate: res.headers.get('www-authenticate'),
    challenges: undefined,
    error: undefined,
    detail: `${res.status} www-authenticate=${res.headers.get('www-authenticate')} body=${body.slice(0, 600)}`,
  };
}

// FAPI2_DEBUG=1 prints what the provider answered to the refused requests.
function debugRefusal(r) {
  if (process.env.FAPI2_DEBUG) console.error(`  refusal: ${r.detail}`);
}

// ---------------------------------------------------------------- the flow

const issuerUrl = new URL(ISSUER);
const SCOPE = 'openid profile email offline_access';

// Client signing key for private_key_jwt (RFC 7523 client assertions).
const clientAuth = await step('import client private key (ES256)', async () => {
  const jwk = JSON.parse(PRIVATE_JWK);
  assert.equal(jwk.kty, 'EC', 'PRIVATE_JWK kty');
  assert.equal(jwk.crv, 'P-256', 'PRIVATE_JWK crv');
  assert.ok(jwk.d, 'PRIVATE_JWK must be a private key (d)');
  assert.ok(jwk.kid, 'PRIVATE_JWK must carry a kid');
  const { kid, alg: _alg, use: _use, key_ops: _ops, ...material } = jwk;
  const key = await crypto.subtle.importKey('jwk', material, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return client.PrivateKeyJwt({ key, kid });
});

// a. Discovery.
const config = await step('discovery (PAR, DPoP, private_key_jwt advertised)', async () => {
  const config = await client.discovery(issuerUrl, CLIENT_ID, undefined, clientAuth);
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.ok(md.authorization_endpoint, 'authorization_endpoint');
  assert.ok(md.token_endpoint, 'token_endpoint');
  assert.ok(md.userinfo_endpoint, 'userinfo_endpoint');
  assert.ok(md.introspection_endpoint, 'introspection_endpoint');
  assert.ok(md.pushed_authorization_request_endpoint, 'pushed_authorization_request_endpoint');
  assert.ok(md.dpop_signing_alg_values_supported?.includes('ES256'), `ES256 DPoP: ${JSON.stringify(md.dpop_signing_alg_values_supported)}`);
  assert.ok(md.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'private_key_jwt advertised');
  assert.ok(md.code_challenge_methods_supported?.includes('S256'), 'S256 PKCE advertised');
  return config;
});

// b. DPoP key pair (generated here, never registered) and its thumbprint.
const dpopKeyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, dpopKeyPair);
const expectedJkt = await jwkThumbprint(dpopKeyPair.publicKey);

// c. Pushed authorization request with PKCE S256, client assertion and a DPoP proof.
const pkceCodeVerifier = client.randomPKCECodeVerifier();
const expectedState = client.randomState();
const expectedNonce = client.randomNonce();
const authUrl = await step('pushed authorization request (PKCE S256, private_key_jwt, DPoP)', async () => {
  const code_challenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge,
      code_challenge_method: 'S256',
      state: expectedState,
      nonce: expectedNonce,
    },
    { DPoP },
  );
  assert.equal(`${url.origin}${url.pathname}`, config.serverMetadata().authorization_endpoint);
  assert.equal(url.searchParams.get('client_id'), CLIENT_ID);
  const requestUri = url.searchParams.get('request_uri');
  assert.ok(requestUri?.startsWith('urn:ietf:params:oauth:request_uri:'), `request_uri: ${requestUri}`);
  // Only client_id + request_uri travel through the front channel.
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], url.href);
  return url;
});

// d. Login and consent pages.
const interactionUrl = await step('authorize redirects to interaction', async () => {
  const page = await browse(authUrl);
  const next = expectRedirect(page);
  assert.equal(next.origin, issuerUrl.origin, `interaction must be on the provider origin: ${next.href}`);
  assert.match(next.pathname, /\/interaction\/[^/]+$/, `expected /interaction/{uid}: ${next.href}`);
  assert.ok(jar.size > 0, 'authorize should set an interaction/browser cookie');
  return next;
});

const loginForm = await step('login page', async () => {
  const page = await browse(interactionUrl);
  assert.equal(page.res.status, 200, summary(page));
  assert.match(page.res.headers.get('content-type') ?? '', /^text\/html/);
  const form = findForm(page, `${interactionUrl.pathname}/login`);
  assert.ok(form.inputs.some((i) => i.name === 'username'), 'username input');
  const pw = form.inputs.find((i) => i.name === 'password');
  assert.ok(pw, 'password input');
  assert.equal(pw.type?.toLowerCase(), 'password', 'password input has type=password');
  return { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') };
});

await step('login post', async () => {
  const page = await browse(loginForm.action, {
    method: 'POST',
    form: { csrf_token: loginForm.csrf_token, username: USERNAME, password: PASSWORD },
  });
  const next = expectRedirect(page);
  assert.equal(next.href, interactionUrl.href, `login should return to the interaction: ${summary(page)}`);
});

function checkCallback(next, page) {
  assert.equal(`${next.origin}${next.pathname}`, REDIRECT_URI, `redirect_uri: ${next.href} (${summary(page)})`);
  assert.equal(next.searchParams.get('error'), null, `no error in ${next.href}`);
  assert.ok(next.searchParams.get('code'), `code in ${next.href}`);
  assert.equal(next.searchParams.get('state'), expectedState, 'state echoed');
  assert.equal(next.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
  return next;
}

// After login the interaction shows the consent form, or, when consent for these
// scopes is already remembered, redirects straight to the client. Both paths print the
// same number of steps.
const afterLogin = await step('consent page (or remembered consent)', async () => {
  const page = await browse(interactionUrl);
  if (page.res.status === 303) return { page };
  assert.equal(page.res.status, 200, summary(page));
  const form = findForm(page, `${interactionUrl.pathname}/consent`);
  const decisions = form.buttons.filter((b) => b.name === 'decision').map((b) => b.value).sort();
  assert.deepEqual(decisions, ['approve', 'deny'], `decision buttons: ${JSON.stringify(form.buttons)}`);
  return { consent: { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') } };
});

const callbackUrl = await step(
  afterLogin.consent ? 'consent approve redirects to client' : 'remembered consent redirects to client',
  async () => {
    const page = afterLogin.page ?? (await browse(afterLogin.consent.action, {
      method: 'POST',
      form: { csrf_token: afterLogin.consent.csrf_token, decision: 'approve' },
    }));
    return checkCallback(expectRedirect(page), page);
  },
);

// e. Code exchange with a DPoP proof: a DPoP-bound access token.
function assertDpopBound(tokens, label) {
  assert.equal(tokens.token_type?.toLowerCase(), 'dpop', `${label} token_type: ${tokens.token_type}`);
  const { header, payload } = decodeJwt(tokens.access_token);
  assert.ok(header.alg && header.alg !== 'none', `${label} access token alg: ${header.alg}`);
  assert.equal(payload.cnf?.jkt, expectedJkt, `${label} access token cnf.jkt: ${JSON.stringify(payload.cnf)}`);
  assert.equal(payload.client_id ?? CLIENT_ID, CLIENT_ID, `${label} access token client_id`);
  return payload;
}

const tokens = await step('authorization code grant (DPoP, private_key_jwt)', async () => {
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callbackUrl),
    { pkceCodeVerifier, expectedState, expectedNonce },
    undefined,
    { DPoP },
  );
  assert.ok(tokens.access_token, 'access_token');
  assert.ok(tokens.id_token, 'id_token');
  assert.ok(tokens.refresh_token, 'refresh_token (offline_access)');
  const claims = tokens.claims();
  assert.ok(claims, 'id_token claims');
  assert.equal(typeof claims.sub, 'string');
  assert.ok(claims.sub.length > 0, 'sub non-empty');
  assert.equal(claims.nonce, expectedNonce, 'nonce');
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), true, 'aud');
  return tokens;
});
const sub = tokens.claims().sub;

await step('token_type is DPoP and access token cnf.jkt is the DPoP key thumbprint', async () => {
  const payload = assertDpopBound(tokens, 'code grant');
  assert.equal(payload.sub, sub, 'access token sub');
});

// f. UserInfo with the DPoP handle.
await step('userinfo (DPoP)', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  assert.equal(info.sub, sub);
  assert.ok(info.email, `email in userinfo: ${JSON.stringify(info)}`);
});

// g. Refresh with a DPoP proof of the same key.
const refreshed = await step('refresh token grant (DPoP)', async () => {
  const r = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  assert.ok(r.access_token, 'new access_token');
  assert.notEqual(r.access_token, tokens.access_token, 'access token is new');
  assertDpopBound(r, 'refresh grant');
  if (r.id_token) assert.equal(r.claims()?.sub, sub, 'refreshed id_token sub');
  return r;
});

await step('userinfo with refreshed token (DPoP)', async () => {
  const info = await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP });
  assert.equal(info.sub, sub);
});

// h. Introspection (client authenticated with private_key_jwt).
await step('introspect access token (active, cnf.jkt)', async () => {
  const i = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(i.active, true, JSON.stringify(i));
  assert.equal(i.sub, sub, JSON.stringify(i));
  assert.equal(i.client_id, CLIENT_ID, JSON.stringify(i));
  assert.equal(i.cnf?.jkt, expectedJkt, `introspection cnf.jkt: ${JSON.stringify(i)}`);
  if (i.token_type !== undefined) assert.equal(i.token_type.toLowerCase(), 'dpop', JSON.stringify(i));
});

// i. Negative: the DPoP-bound access token is useless as a plain Bearer token, and
// useless with a proof of some other key (RFC 9449 §7.1).
await step('userinfo without DPoP proof is refused (401)', async () => {
  const r = await refusal(client.fetchUserInfo(config, refreshed.access_token, sub));
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
});

await step('protected resource without DPoP proof is refused (401)', async () => {
  const r = await refusal(
    client.fetchProtectedResource(config, refreshed.access_token, new URL(config.serverMetadata().userinfo_endpoint), 'GET'),
  );
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
  // RFC 9449 §7.1 / RFC 6750 §3: a 401 from a protected resource carries a challenge.
  assert.ok(r.wwwAuthenticate || r.challenges?.length, `401 should carry WWW-Authenticate: ${r.detail}`);
});

await step('userinfo with a DPoP proof of another key is refused (401)', async () => {
  const otherDPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const r = await refusal(client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP: otherDPoP }));
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
});

console.log(`fapi2: ${passed} passed, 0 failed`);
clearTimeout(watchdog);

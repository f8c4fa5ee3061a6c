// Interop test: a certified OpenID Connect Relying Party library (openid-client v6,
// functional API) against a running Consentry provider.
//
// The login and consent pages are driven the way a browser would drive them: plain
// fetch with manual redirects and a small cookie jar. Every step asserts with
// node:assert/strict and prints `ok - <step>`; the first failure prints
// `not ok - <step>` plus the error and exits 1.
//
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USERNAME, PASSWORD.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification
// stays on.

import assert from 'node:assert/strict';
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
const CLIENT_SECRET = env('CLIENT_SECRET');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

const PAGE_TIMEOUT_MS = 15_000;

// Whole-run watchdog so a hung server can never hang the test runner.
const watchdog = setTimeout(() => {
  console.error('interop: timed out after 120s');
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
    console.error(describeError(err));
    console.log(`interop: ${passed} passed, 1 failed`);
    process.exit(1);
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

// ---------------------------------------------------------------- the flow

const issuerUrl = new URL(ISSUER);

// a. Discovery. The test client is registered with client_secret_basic; openid-client
// v6 defaults to client_secret_post when only a secret is given, so name the method.
const config = await step('discovery', async () => {
  const config = await client.discovery(issuerUrl, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.ok(md.authorization_endpoint, 'authorization_endpoint');
  assert.ok(md.token_endpoint, 'token_endpoint');
  assert.ok(md.userinfo_endpoint, 'userinfo_endpoint');
  assert.ok(md.jwks_uri, 'jwks_uri');
  assert.ok(md.introspection_endpoint, 'introspection_endpoint');
  assert.ok(md.revocation_endpoint, 'revocation_endpoint');
  assert.ok(md.code_challenge_methods_supported?.includes('S256'), 'S256 PKCE advertised');
  return config;
});

// b. Authorization URL with PKCE S256.
const pkceCodeVerifier = client.randomPKCECodeVerifier();
const expectedState = client.randomState();
const expectedNonce = client.randomNonce();
const authUrl = await step('authorization url (PKCE S256)', async () => {
  const code_challenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge,
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
    prompt: 'consent',
  });
  assert.equal(url.origin, issuerUrl.origin);
  assert.equal(url.searchParams.get('response_type'), 'code');
  return url;
});

// c. Login and consent pages.
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

const consentForm = await step('consent page', async () => {
  const page = await browse(interactionUrl);
  assert.equal(page.res.status, 200, summary(page));
  const form = findForm(page, `${interactionUrl.pathname}/consent`);
  const decisions = form.buttons.filter((b) => b.name === 'decision').map((b) => b.value).sort();
  assert.deepEqual(decisions, ['approve', 'deny'], `decision buttons: ${JSON.stringify(form.buttons)}`);
  for (const b of form.buttons.filter((b) => b.name === 'decision')) {
    assert.ok(!b.type || b.type.toLowerCase() === 'submit', `decision ${b.value} must be a submit button`);
  }
  assert.ok(page.text.includes('email'), 'consent page lists the requested scopes (email)');
  return { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') };
});

const callbackUrl = await step('consent approve redirects to client', async () => {
  const page = await browse(consentForm.action, {
    method: 'POST',
    form: { csrf_token: consentForm.csrf_token, decision: 'approve' },
  });
  const next = expectRedirect(page);
  assert.equal(`${next.origin}${next.pathname}`, REDIRECT_URI, `redirect_uri: ${next.href}`);
  assert.ok(next.searchParams.get('code'), `code in ${next.href}`);
  assert.equal(next.searchParams.get('state'), expectedState, 'state echoed');
  assert.equal(next.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
  assert.equal(next.searchParams.get('error'), null, `no error in ${next.href}`);
  return next;
});

// d. Code exchange.
const tokens = await step('authorization code grant', async () => {
  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier,
    expectedState,
    expectedNonce,
  });
  assert.ok(tokens.access_token, 'access_token');
  assert.ok(tokens.id_token, 'id_token');
  assert.ok(tokens.refresh_token, 'refresh_token (offline_access)');
  assert.equal(tokens.token_type?.toLowerCase(), 'bearer');
  const claims = tokens.claims();
  assert.ok(claims, 'id_token claims');
  assert.equal(typeof claims.sub, 'string');
  assert.ok(claims.sub.length > 0, 'sub non-empty');
  assert.equal(claims.nonce, expectedNonce, 'nonce');
  assert.equal(claims.iss, ISSUER);
  return tokens;
});
const sub = tokens.claims().sub;

// e. UserInfo.
await step('userinfo', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, sub);
  assert.equal(info.sub, sub);
  assert.ok(info.email, `email in userinfo: ${JSON.stringify(info)}`);
});

// f. Refresh with rotation.
const refreshed = await step('refresh token grant (rotation)', async () => {
  const r = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(r.access_token, 'new access_token');
  assert.notEqual(r.access_token, tokens.access_token, 'access token is new');
  assert.ok(r.refresh_token, 'a new refresh_token is issued');
  assert.notEqual(r.refresh_token, tokens.refresh_token, 'refresh token rotated');
  if (r.id_token) assert.equal(r.claims()?.sub, sub, 'refreshed id_token sub');
  return r;
});

// g. Introspection of the new access token.
await step('introspect access token', async () => {
  const i = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(i.active, true, JSON.stringify(i));
  assert.equal(i.sub, sub);
  assert.equal(i.client_id, CLIENT_ID);
});

// h. Revocation of the new refresh token.
await step('revoke refresh token', async () => {
  await client.tokenRevocation(config, refreshed.refresh_token);
});
await step('revoked refresh token is inactive', async () => {
  const i = await client.tokenIntrospection(config, refreshed.refresh_token);
  assert.equal(i.active, false, JSON.stringify(i));
});

// i. Authorization codes are single use (RFC 6749 §4.1.2).
await step('replayed code is invalid_grant', async () => {
  await assert.rejects(
    client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier, expectedState, expectedNonce }),
    (err) => {
      assert.equal(err.error, 'invalid_grant', describeError(err));
      return true;
    },
  );
});

console.log(`interop: ${passed} passed, 0 failed`);
clearTimeout(watchdog);

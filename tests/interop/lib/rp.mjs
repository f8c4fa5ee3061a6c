// Shared helpers for the openid-client interop scripts (flow.mjs, fapi1.mjs, fapi2.mjs,
// usecase2.mjs; the Chromium scripts take `env` from here too):
//
//   * a step runner: every step prints `ok - <step>`; the first failure prints
//     `not ok - <step>` plus the error and exits 1;
//   * a stand-in browser (plain fetch with manual redirects and a cookie jar) that drives
//     the provider's login and consent pages the way a user agent would;
//   * small JOSE and error helpers.
//
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification stays on.

import assert from 'node:assert/strict';
import * as client from 'openid-client';

const PAGE_TIMEOUT_MS = 15_000;
const RUN_TIMEOUT_MS = 120_000;

export function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

// ---------------------------------------------------------------- step runner

let label = 'interop';
let passed = 0;
let watchdog;

// Names the run in its summary line and arms a whole-run watchdog, so a hung server can
// never hang the test runner.
export function startRun(name) {
  label = name;
  watchdog = setTimeout(() => {
    console.error(`${label}: timed out after ${RUN_TIMEOUT_MS / 1000}s`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  watchdog.unref();
}

export function endRun() {
  console.log(`${label}: ${passed} passed, 0 failed`);
  clearTimeout(watchdog);
}

export async function step(name, fn) {
  try {
    const out = await fn();
    passed += 1;
    console.log(`ok - ${name}`);
    return out;
  } catch (err) {
    console.log(`not ok - ${name}`);
    await readErrorBody(err);
    console.error(describeError(err));
    console.log(`${label}: ${passed} passed, 1 failed`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------- errors

// By tag rather than instanceof: responses from undici's own fetch are not instances of
// the global Response class.
function isResponse(x) {
  return x != null && Object.prototype.toString.call(x) === '[object Response]';
}

// WWWAuthenticateChallengeError leaves the response body unread; keep it for the report.
async function readErrorBody(err) {
  const res = err?.response;
  if (isResponse(res) && !res.bodyUsed) {
    try {
      err.responseBody = await res.text();
    } catch {
      // already consumed or aborted
    }
  }
}

export function describeError(err) {
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
  // The raw HTTP response, when the library kept it, so a provider deviation can be
  // reported precisely.
  const res = err?.response;
  if (isResponse(res)) {
    parts.push(`  response: ${res.status} ${res.url}`);
    for (const [k, v] of res.headers) parts.push(`    ${k}: ${v}`);
    if (err.responseBody !== undefined) parts.push(`  body: ${err.responseBody.slice(0, 1000)}`);
  }
  return parts.join('\n');
}

// A protected-resource call that must be refused. openid-client either throws
// (WWWAuthenticateChallengeError on a 401 with WWW-Authenticate, or a ResponseBodyError /
// OperationProcessingError) or, for fetchProtectedResource, hands back the non-2xx
// Response. Returns { status, wwwAuthenticate, challenges, error, detail }.
export async function refusal(promise) {
  let res;
  try {
    res = await promise;
  } catch (err) {
    await readErrorBody(err);
    const r = isResponse(err?.response) ? err.response : undefined;
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
  assert.ok(isResponse(res), `expected a refusal, got ${JSON.stringify(res)}`);
  const body = await res.text();
  return {
    status: res.status,
    wwwAuthenticate: res.headers.get('www-authenticate'),
    challenges: undefined,
    error: undefined,
    detail: `${res.status} www-authenticate=${res.headers.get('www-authenticate')} body=${body.slice(0, 600)}`,
  };
}

// ---------------------------------------------------------------- cookie jar

// Keeps name=value of every cookie the provider sets and sends them all back. All
// requests go to the single provider origin, so no domain/path matching is needed. Also
// checks the cookie attributes the contract promises.
export class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const header of response.headers.getSetCookie()) {
      const { name, value, attr } = parseSetCookie(header);
      assert.ok(name.startsWith('__Host-'), `cookie ${name} should use the __Host- prefix: ${header}`);
      assert.ok(attr.has('secure'), `cookie ${name} is not Secure: ${header}`);
      assert.ok(attr.has('httponly'), `cookie ${name} is not HttpOnly: ${header}`);
      assert.equal(attr.get('samesite')?.toLowerCase(), 'lax', `cookie ${name} is not SameSite=Lax: ${header}`);
      assert.equal(attr.get('path'), '/', `__Host- cookie ${name} must have Path=/: ${header}`);
      assert.ok(!attr.has('domain'), `__Host- cookie ${name} must not have Domain: ${header}`);
      if (isDeletion(attr)) this.#cookies.delete(name);
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

function parseSetCookie(header) {
  const [pair, ...attrs] = header.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  assert.ok(eq > 0, `malformed Set-Cookie: ${header}`);
  const attr = new Map(
    attrs.map((a) => {
      const i = a.indexOf('=');
      return i < 0 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
    }),
  );
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attr };
}

// A cookie set already expired is how a server deletes it.
function isDeletion(attr) {
  const maxAge = attr.has('max-age') ? Number(attr.get('max-age')) : undefined;
  const expires = attr.has('expires') ? Date.parse(attr.get('expires')) : undefined;
  if (maxAge !== undefined) return maxAge <= 0;
  return expires !== undefined && expires <= Date.now();
}

// ---------------------------------------------------------------- browsing

// The one user agent of a script run.
export const jar = new CookieJar();

export async function browse(url, { method = 'GET', form } = {}) {
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

export function expectRedirect(page) {
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

// Every <form> with its attributes, its <input>s and its <button>s.
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

export function findForm(page, actionPath) {
  const forms = parseForms(page.text);
  const form = forms.find((f) => f.action && new URL(f.action, page.url).pathname === actionPath);
  assert.ok(form, `no <form action="${actionPath}"> on ${page.url.href}; forms: ${JSON.stringify(forms)}\n${page.text.slice(0, 1500)}`);
  assert.equal((form.method ?? '').toLowerCase(), 'post', `form ${actionPath} must be method="post"`);
  return form;
}

export function hiddenValue(form, name) {
  const input = form.inputs.find((i) => i.name === name);
  assert.ok(input, `form ${form.action} has no input named ${name}`);
  assert.equal(input.type?.toLowerCase(), 'hidden', `${name} should be a hidden input`);
  assert.ok(input.value, `${name} is empty`);
  return input.value;
}

// ---------------------------------------------------------------- login and consent

// Follows `authUrl` through the provider's login and consent pages as `username`, the
// way a browser would, and returns the URL the provider finally redirects to: the
// client's callback, with the response in its query or fragment. `consentShows` is text
// the consent page must contain (e.g. a requested scope).
export async function loginAndConsent(authUrl, { issuer, redirectUri, username, password, consentShows }) {
  const origin = new URL(issuer).origin;
  const interactionUrl = await step('authorize redirects to interaction', async () => {
    const next = expectRedirect(await browse(authUrl));
    assert.equal(next.origin, origin, `interaction must be on the provider origin: ${next.href}`);
    assert.match(next.pathname, /\/interaction\/[^/]+$/, `expected /interaction/{uid}: ${next.href}`);
    assert.ok(jar.size > 0, 'authorize should set an interaction/browser cookie');
    return next;
  });
  await logIn(interactionUrl, username, password);
  return approveConsent(interactionUrl, redirectUri, consentShows);
}

// A further authorization in the same browser: the session and the consent remembered
// from loginAndConsent let the provider answer at once, without an interaction.
export async function authorizeSignedIn(authUrl, { redirectUri }) {
  return step('signed-in session with remembered consent redirects straight to client', async () => {
    const callback = expectRedirect(await browse(authUrl));
    assertCallback(callback, redirectUri);
    return callback;
  });
}

function assertCallback(url, redirectUri) {
  assert.equal(`${url.origin}${url.pathname}`, redirectUri, `redirect_uri: ${url.href}`);
}

async function logIn(interactionUrl, username, password) {
  const form = await step('login page', async () => {
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
    const posted = await browse(form.action, {
      method: 'POST',
      form: { csrf_token: form.csrf_token, username, password },
    });
    const next = expectRedirect(posted);
    assert.equal(next.href, interactionUrl.href, `login should return to the interaction: ${summary(posted)}`);
  });
}

async function approveConsent(interactionUrl, redirectUri, consentShows) {
  const form = await step('consent page', async () => {
    const page = await browse(interactionUrl);
    assert.equal(page.res.status, 200, summary(page));
    const form = findForm(page, `${interactionUrl.pathname}/consent`);
    const decisions = form.buttons.filter((b) => b.name === 'decision');
    assert.deepEqual(decisions.map((b) => b.value).sort(), ['approve', 'deny'], `decision buttons: ${JSON.stringify(form.buttons)}`);
    for (const b of decisions) {
      assert.ok(!b.type || b.type.toLowerCase() === 'submit', `decision ${b.value} must be a submit button`);
    }
    if (consentShows) assert.ok(page.text.includes(consentShows), `consent page shows ${consentShows}`);
    return { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') };
  });
  return step('consent approve redirects to client', async () => {
    const posted = await browse(form.action, {
      method: 'POST',
      form: { csrf_token: form.csrf_token, decision: 'approve' },
    });
    const callback = expectRedirect(posted);
    assertCallback(callback, redirectUri);
    return callback;
  });
}

// ---------------------------------------------------------------- JOSE

function b64urlJson(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

// Decodes (does not verify) a compact JWS: the tests look at binding claims, and
// openid-client verifies the signatures that matter to a relying party.
export function decodeJwt(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `expected a compact JWS, got ${jwt.slice(0, 40)}…`);
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]) };
}

// A private signing key given as a JSON JWK (with `kid` and `alg`), imported for
// openid-client: { key, kid }, as PrivateKeyJwt and the JAR builder take it.
export async function importPrivateJwk(json) {
  const jwk = JSON.parse(json);
  assert.ok(jwk.d, 'the JWK must be a private key (d)');
  assert.ok(jwk.kid, 'the JWK must carry a kid');
  const { kid, alg, use: _use, key_ops: _ops, ...material } = jwk;
  const algorithm = {
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  }[alg];
  assert.ok(algorithm, `unsupported JWK alg ${alg}`);
  const key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  return { key, kid };
}

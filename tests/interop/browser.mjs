// Browser test: the Consentry login + consent pages in a real headless Chromium,
// driven through playwright-core (which never downloads a browser; the system
// Chromium is used).
//
// Env: AUTH_URL (a full authorization URL built by the Rust test, with PKCE),
//      REDIRECT_URI, USERNAME, PASSWORD, optional SCREENSHOT_DIR, optional CHROMIUM.
// Output: `ok - <step>` lines, then `CALLBACK <url>` with the URL the provider
// redirected the browser to, so the Rust test can exchange the code.
// Exit status is non-zero on any failure.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const TIMEOUT_MS = 20_000;

const watchdog = setTimeout(() => {
  console.error('browser: timed out after 120s');
  process.exit(1);
}, 120_000);
watchdog.unref();

let browser;
let passed = 0;
let current = 'launch chromium';

function ok(name) {
  passed += 1;
  console.log(`ok - ${name}`);
}

async function screenshot(page, name) {
  if (!SCREENSHOT_DIR) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: TIMEOUT_MS,
  });
  ok(current);

  // Chromium does not read NODE_EXTRA_CA_CERTS and the provider's dev CA is not in
  // the browser's trust store, so certificate errors are ignored here, in the
  // browser only. TLS trust in the provider's certificate is proven by flow.mjs,
  // which verifies it against the dev CA with verification on.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();

  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      console.error(`[chromium console ${msg.type()}] ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => console.error(`[chromium page error] ${err.message}`));
  const isCallback = (url) => url === REDIRECT_URI || url.startsWith(`${REDIRECT_URI}?`);
  page.on('requestfailed', (req) => {
    // The redirect hop to the client's (unresolvable) host fails by design; see below.
    if (isCallback(req.url())) return;
    console.error(`[chromium request failed] ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });

  // The redirect_uri's host does not answer. Playwright does not call route handlers
  // for redirect hops (only for the first URL of a chain), so the 303 from the
  // consent POST to the redirect_uri is observed through the 'request' event, which
  // Chromium raises once it has accepted the redirect (after its own checks, e.g.
  // CSP form-action). That hop then fails DNS, which is expected. The route below
  // answers in place of the client for any direct load of the redirect_uri (such as
  // Chromium's automatic reload of the failed page), so nothing hangs on it.
  let resolveCallback;
  const callback = new Promise((resolve) => {
    resolveCallback = resolve;
  });
  page.on('request', (req) => {
    if (!isCallback(req.url())) return;
    const from = req.redirectedFrom();
    resolveCallback({
      url: req.url(),
      method: req.method(),
      from: from ? { url: from.url(), method: from.method() } : null,
    });
  });
  await page.route(`${REDIRECT_URI}**`, async (route) => {
    const req = route.request();
    resolveCallback({ url: req.url(), method: req.method(), from: null });
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' });
  });

  current = 'login page';
  const resp = await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  assert.ok(resp, 'navigation response');
  assert.equal(resp.status(), 200, `login page status (final URL ${page.url()})`);
  assert.match(new URL(page.url()).pathname, /\/interaction\/[^/]+$/, `login page URL ${page.url()}`);
  const loginForm = page.locator('form:has(input[name=password])');
  await loginForm.waitFor({ state: 'visible' });
  await page.locator('input[name=username]').fill(USERNAME);
  await page.locator('input[name=password]').fill(PASSWORD);
  await screenshot(page, 'login');
  ok(current);

  current = 'submit login';
  const interactionUrl = page.url();
  await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && /\/login$/.test(new URL(r.url()).pathname)),
    loginForm.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  ok(current);

  current = 'consent page';
  const approve = page.locator('button[name=decision][value=approve]');
  // Either the consent page or the login page again with an error message.
  await page.locator('button[name=decision][value=approve], [role=alert]').first().waitFor({ state: 'visible' });
  const alert = page.locator('[role=alert]');
  if (await alert.count()) throw new Error(`login failed: ${(await alert.first().innerText()).trim()}`);
  assert.equal(page.url(), interactionUrl, 'login returns to the interaction URL');
  assert.equal(await page.locator('button[name=decision][value=deny]').count(), 1, 'deny button');
  const heading = page.locator('h1, h2').first();
  await heading.waitFor({ state: 'visible' });
  assert.ok((await heading.innerText()).trim().length > 0, 'consent page heading has text');
  const scopeItems = page.locator('ul li, ol li');
  assert.ok((await scopeItems.count()) > 0, 'consent page shows a list of scopes');
  const scopeText = (await scopeItems.allInnerTexts()).join('\n');
  assert.match(scopeText, /email/i, `scope list mentions email: ${JSON.stringify(scopeText)}`);
  await screenshot(page, 'consent');
  ok(current);

  current = 'approve consent';
  await approve.click();
  const cb = await Promise.race([
    callback,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`no redirect to ${REDIRECT_URI} within ${TIMEOUT_MS} ms (page at ${page.url()})`)), TIMEOUT_MS).unref(),
    ),
  ]);
  assert.equal(cb.method, 'GET', 'callback is a GET redirect');
  assert.ok(cb.from, `the browser reached ${REDIRECT_URI} by a redirect`);
  assert.equal(cb.from.method, 'POST', 'redirected from the consent form POST');
  assert.match(new URL(cb.from.url).pathname, /\/interaction\/[^/]+\/consent$/, `redirected from ${cb.from.url}`);
  const cbUrl = new URL(cb.url);
  assert.equal(`${cbUrl.origin}${cbUrl.pathname}`, REDIRECT_URI);
  assert.equal(cbUrl.searchParams.get('error'), null, `error in callback: ${cb.url}`);
  assert.ok(cbUrl.searchParams.get('code'), `code in callback: ${cb.url}`);
  const expectedState = new URL(AUTH_URL).searchParams.get('state');
  if (expectedState !== null) assert.equal(cbUrl.searchParams.get('state'), expectedState, 'state echoed');
  ok(current);

  console.log(`CALLBACK ${cb.url}`);
  console.log(`browser: ${passed} passed, 0 failed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (err) {
  console.log(`not ok - ${current}`);
  console.error(err?.stack ?? String(err));
  console.log(`browser: ${passed} passed, 1 failed`);
  try {
    await browser?.close();
  } catch {
    // ignore
  }
  process.exit(1);
}

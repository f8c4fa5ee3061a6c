// Browser test: sign in (login + consent) in a real headless Chromium, then RP-Initiated
// Logout without an id_token_hint: the provider's confirmation page, "Sign out", and the
// redirect to the registered post_logout_redirect_uri with state.
//
// Env: AUTH_URL, REDIRECT_URI, USERNAME, PASSWORD, END_SESSION_URL (the end-session request,
//      with client_id, post_logout_redirect_uri and state), POST_LOGOUT_URI, optional
//      SCREENSHOT_DIR, optional CHROMIUM.
// Output: `ok - <step>` lines, then `LOGGED_OUT <url>` with the URL the browser landed on.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const END_SESSION_URL = env('END_SESSION_URL');
const POST_LOGOUT_URI = env('POST_LOGOUT_URI');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const TIMEOUT_MS = 20_000;

const watchdog = setTimeout(() => {
  console.error('logout_browser: timed out after 120s');
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

/// Resolves with the first request the browser makes to `target` (a host that does not
/// answer: redirect hops are seen through the 'request' event, direct loads are fulfilled).
async function expectRequestTo(page, target) {
  const matches = (url) => url === target || url.startsWith(`${target}?`);
  let resolve;
  const seen = new Promise((r) => {
    resolve = r;
  });
  page.on('request', (req) => {
    if (!matches(req.url())) return;
    const from = req.redirectedFrom();
    resolve({ url: req.url(), method: req.method(), from: from ? { url: from.url(), method: from.method() } : null });
  });
  await page.route(`${target}**`, async (route) => {
    resolve({ url: route.request().url(), method: route.request().method(), from: null });
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' });
  });
  return () =>
    Promise.race([
      seen,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no request to ${target} within ${TIMEOUT_MS} ms (page at ${page.url()})`)), TIMEOUT_MS).unref(),
      ),
    ]);
}

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: TIMEOUT_MS,
  });
  ok(current);

  // The provider's dev CA is not in Chromium's trust store (see browser.mjs).
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(TIMEOUT_MS);
  const newPage = async () => {
    const p = await context.newPage();
    p.on('pageerror', (err) => console.error(`[chromium page error] ${err.message}`));
    return p;
  };
  let page = await newPage();
  const callback = await expectRequestTo(page, REDIRECT_URI);

  current = 'sign in and consent';
  await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  await page.getByLabel('Username').fill(USERNAME);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('button[name=decision][value=approve]').click();
  const cb = await callback();
  assert.ok(new URL(cb.url).searchParams.get('code'), `code in callback: ${cb.url}`);
  ok(current);

  // A tab of its own (the same cookies): the first one is still failing over to Chromium's
  // error page for the client's unresolvable callback host.
  current = 'logout confirmation page';
  await page.close();
  page = await newPage();
  const loggedOut = await expectRequestTo(page, POST_LOGOUT_URI);
  const resp = await page.goto(END_SESSION_URL, { waitUntil: 'domcontentloaded' });
  assert.equal(resp.status(), 200, 'the confirmation page, not a redirect');
  const csp = resp.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'none'/, `CSP: ${csp}`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en', 'the page names its language');
  assert.equal(await page.locator('input[name=csrf_token]').count(), 1, 'the form carries a CSRF token');
  assert.match(await page.locator('h1').innerText(), /Sign out/);
  await screenshot(page, 'logout-confirm');
  ok(current);

  current = 'sign out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  const out = await loggedOut();
  assert.equal(out.method, 'GET', 'a GET redirect');
  assert.ok(out.from, `reached ${POST_LOGOUT_URI} by a redirect`);
  assert.equal(out.from.method, 'POST', 'redirected from the confirmation form POST');
  assert.match(new URL(out.from.url).pathname, /\/session\/end\/confirm$/, `from ${out.from.url}`);
  const expectedState = new URL(END_SESSION_URL).searchParams.get('state');
  assert.equal(new URL(out.url).searchParams.get('state'), expectedState, 'state echoed');
  ok(current);

  console.log(`LOGGED_OUT ${out.url}`);
  console.log(`logout_browser: ${passed} passed, 0 failed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (err) {
  console.log(`not ok - ${current}`);
  console.error(err?.stack ?? String(err));
  console.log(`logout_browser: ${passed} passed, 1 failed`);
  try {
    await browser?.close();
  } catch {
    // ignore
  }
  process.exit(1);
}

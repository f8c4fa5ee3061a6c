// Browser test: a bank connection through Consentry's pages in a real headless Chromium,
// driven through playwright-core (which never downloads a browser; the system Chromium is
// used). Same launch options and callback capture as browser.mjs.
//
// The walk: authorize → login page → bank chooser (search box, one button per bank) →
// consent naming the bank → Sandbox Bank's sign-in form (a wrong password first, which
// must show the script's error, then the sandbox credentials) → redirect to the client.
//
// Env: AUTH_URL (a full authorization URL built by the Rust test, with PKCE, asking for
//      id:all and prompt=login), REDIRECT_URI, USERNAME, PASSWORD, optional SCREENSHOT_DIR,
//      optional CHROMIUM, optional BANK_USERNAME / BANK_PASSWORD (default: the sandbox's).
// Output: `ok - <step>` lines, then `CALLBACK <url>` with the URL the provider redirected
// the browser to, so the Rust test can exchange the code. Exit status is non-zero on any
// failure.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const BANK_USERNAME = process.env.BANK_USERNAME || 'sandbox';
const BANK_PASSWORD = process.env.BANK_PASSWORD || 'sandbox-password';
const BANK_NAME = 'Sandbox Bank';
const BANK_ID = 'sandbox-bank';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const TIMEOUT_MS = 20_000;

const watchdog = setTimeout(() => {
  console.error('bank browser: timed out after 120s');
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

const INTERACTION = /^\/interaction\/[^/]+$/;

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

  // Chromium does not read NODE_EXTRA_CA_CERTS and the provider's dev CA is not in the
  // browser's trust store, so certificate errors are ignored here, in the browser only
  // (flow.mjs proves TLS trust against the dev CA with verification on).
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

  // The redirect_uri's host does not answer. Playwright does not call route handlers for
  // redirect hops, so the 303 from the bank form's POST to the redirect_uri is observed
  // through the 'request' event, raised once Chromium has accepted the redirect (after its
  // own checks, e.g. CSP form-action). The route answers in place of the client for any
  // direct load of the redirect_uri (such as Chromium reloading the failed page).
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

  // Waits for the POST a click submits, then for the page it leads to.
  const submitting = async (pathSuffix, click) => {
    await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith(pathSuffix)),
      click(),
    ]);
    await page.waitForLoadState('domcontentloaded');
  };
  const heading = async () => (await page.locator('h1').first().innerText()).trim();
  const alerts = async () => (await page.locator('[role=alert]').allInnerTexts()).map((t) => t.trim());

  current = 'login page';
  const resp = await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  assert.ok(resp, 'navigation response');
  assert.equal(resp.status(), 200, `login page status (final URL ${page.url()})`);
  assert.match(new URL(page.url()).pathname, INTERACTION, `login page URL ${page.url()}`);
  const interactionUrl = page.url();
  const loginForm = page.locator('form:has(input[name=password])');
  await loginForm.waitFor({ state: 'visible' });
  assert.equal(await heading(), 'Sign in');
  await page.locator('input[name=username]').fill(USERNAME);
  await page.locator('input[name=password]').fill(PASSWORD);
  await screenshot(page, 'bank-login');
  ok(current);

  current = 'submit login';
  await submitting('/login', () => loginForm.getByRole('button', { name: 'Sign in' }).click());
  ok(current);

  current = 'bank chooser page';
  const chooserHeading = page.locator('h1', { hasText: 'Choose your bank' });
  await page.locator('h1').first().waitFor({ state: 'visible' });
  {
    const errs = await alerts();
    if (errs.length) throw new Error(`login failed: ${errs.join(' / ')}`);
  }
  await chooserHeading.waitFor({ state: 'visible' });
  assert.equal(page.url(), interactionUrl, 'login returns to the interaction URL');
  const search = page.locator('form[role=search]');
  assert.equal((await search.getAttribute('method'))?.toLowerCase(), 'get', 'the search form is a GET');
  const searchBox = search.locator('input[name=q]');
  await searchBox.waitFor({ state: 'visible' });
  const chooseForm = page.locator('form[method=post][action$="/choose"]');
  assert.equal(await chooseForm.count(), 1, 'one POST form to /choose');
  assert.equal(
    new URL(await chooseForm.getAttribute('action'), page.url()).pathname,
    `${new URL(interactionUrl).pathname}/choose`,
    'the chooser posts to this interaction',
  );
  const banks = chooseForm.locator('button[name=institution]');
  const listed = async () =>
    Promise.all(
      (await banks.all()).map(async (b) => ({
        id: await b.getAttribute('value'),
        name: (await b.locator('span').first().innerText()).trim(),
      })),
    );
  const all = await listed();
  assert.ok(all.length >= 2, `the chooser lists the banks: ${JSON.stringify(all)}`);
  assert.ok(
    all.some((b) => b.id === BANK_ID && b.name === BANK_NAME),
    `${BANK_NAME} is offered: ${JSON.stringify(all)}`,
  );
  // Every bank's icon (or the generic one) loads: img-src 'self' in the CSP allows it.
  const icons = chooseForm.locator('button[name=institution] img');
  assert.equal(await icons.count(), all.length, 'one icon per bank');
  for (const img of await icons.all()) {
    await img.evaluate((el) => (el.complete ? null : new Promise((r) => el.addEventListener('load', r, { once: true }))));
    const { src, width } = await img.evaluate((el) => ({ src: el.currentSrc, width: el.naturalWidth }));
    assert.ok(width > 0, `bank icon ${src} is rendered`);
  }
  await screenshot(page, 'bank-chooser');
  ok(current);

  // The search is a plain GET with no script: typing and pressing Search reloads the
  // interaction page with ?q=.
  const doSearch = async (q) => {
    await searchBox.fill(q);
    await Promise.all([
      page.waitForURL((u) => u.pathname === new URL(interactionUrl).pathname && u.searchParams.get('q') === q),
      search.locator('button[type=submit]').click(),
    ]);
    await chooserHeading.waitFor({ state: 'visible' });
    assert.equal(await searchBox.inputValue(), q, 'the search box keeps the query');
    return listed();
  };

  current = 'search narrows the list';
  {
    const found = await doSearch('otp');
    assert.ok(found.length >= 1 && found.length < all.length, `"otp" narrows the list: ${JSON.stringify(found)}`);
    assert.ok(found.every((b) => /otp/i.test(b.name)), `every match names "otp": ${JSON.stringify(found)}`);
    assert.ok(!found.some((b) => b.id === BANK_ID), `${BANK_NAME} is filtered out: ${JSON.stringify(found)}`);
  }
  ok(current);

  current = 'search "sandbox"';
  const found = await doSearch('sandbox');
  assert.ok(found.length >= 1, 'search finds banks');
  assert.ok(found.every((b) => /sandbox/i.test(b.name)), `every match names "sandbox": ${JSON.stringify(found)}`);
  assert.deepEqual(
    found,
    all.filter((b) => /sandbox/i.test(b.name)),
    'the search lists exactly the banks whose name matches',
  );
  assert.ok(found.some((b) => b.id === BANK_ID), `${BANK_NAME} found: ${JSON.stringify(found)}`);
  await screenshot(page, 'bank-chooser-search');
  ok(current);

  current = `choose ${BANK_NAME}`;
  const bankButton = chooseForm.locator(`button[name=institution][value="${BANK_ID}"]`);
  assert.equal((await bankButton.locator('span').first().innerText()).trim(), BANK_NAME);
  await submitting('/choose', () => bankButton.click());
  ok(current);

  current = 'consent page names the bank';
  await page.locator('h1').first().waitFor({ state: 'visible' });
  assert.equal(await heading(), 'Allow access', `consent page (at ${page.url()})`);
  assert.equal(new URL(page.url()).pathname, new URL(interactionUrl).pathname, 'the chooser returns to the interaction');
  assert.equal(await page.locator('.institution').innerText(), BANK_NAME, 'the consent page names the bank');
  assert.equal(await page.locator('button[name=decision][value=deny]').count(), 1, 'deny button');
  assert.ok((await page.locator('ul.scopes li').count()) > 0, 'the consent page lists scopes');
  await screenshot(page, 'bank-consent');
  ok(current);

  current = 'approve consent';
  await submitting('/consent', () => page.locator('button[name=decision][value=approve]').click());
  ok(current);

  current = `${BANK_NAME} sign-in form`;
  const bankForm = page.locator('form[method=post][action$="/journey"]');
  await bankForm.waitFor({ state: 'visible' });
  assert.equal(
    new URL(await bankForm.getAttribute('action'), page.url()).pathname,
    `${new URL(interactionUrl).pathname}/journey`,
    'the bank form posts to this interaction',
  );
  assert.match(await heading(), new RegExp(BANK_NAME), 'the form is the bank\'s');
  for (const name of ['username', 'password']) {
    assert.equal(await bankForm.locator(`input[name=${name}]`).count(), 1, `${name} input`);
  }
  assert.equal(await bankForm.locator('input[name=password]').getAttribute('type'), 'password', 'password input is masked');
  assert.equal(await bankForm.locator('button[name=action][value=cancel]').count(), 1, 'cancel button');
  assert.deepEqual(await alerts(), [], 'no error before the first attempt');
  await screenshot(page, 'bank-form');
  ok(current);

  const fillBank = async (username, password) => {
    await bankForm.locator('input[name=username]').fill(username);
    await bankForm.locator('input[name=password]').fill(password);
  };

  current = 'wrong bank password shows the error';
  await fillBank(BANK_USERNAME, `${BANK_PASSWORD}-wrong`);
  await submitting('/journey', () => bankForm.locator('button[name=action][value=submit]').click());
  await page.locator('[role=alert]').first().waitFor({ state: 'visible' });
  assert.deepEqual(await alerts(), ['Wrong username or password.']);
  assert.equal(page.url(), interactionUrl, 'the form is shown again at the interaction URL');
  await bankForm.waitFor({ state: 'visible' });
  await screenshot(page, 'bank-form-error');
  ok(current);

  current = 'submit bank credentials';
  await fillBank(BANK_USERNAME, BANK_PASSWORD);
  await bankForm.locator('button[name=action][value=submit]').click();
  const cb = await Promise.race([
    callback,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`no redirect to ${REDIRECT_URI} within ${TIMEOUT_MS} ms (page at ${page.url()})`)), TIMEOUT_MS).unref(),
    ),
  ]);
  ok(current);

  current = 'redirect to the client';
  assert.equal(cb.method, 'GET', 'callback is a GET redirect');
  assert.ok(cb.from, `the browser reached ${REDIRECT_URI} by a redirect`);
  assert.equal(cb.from.method, 'POST', 'redirected from the bank form POST');
  assert.match(new URL(cb.from.url).pathname, /\/interaction\/[^/]+\/journey$/, `redirected from ${cb.from.url}`);
  const cbUrl = new URL(cb.url);
  assert.equal(`${cbUrl.origin}${cbUrl.pathname}`, REDIRECT_URI);
  assert.equal(cbUrl.searchParams.get('error'), null, `error in callback: ${cb.url}`);
  assert.ok(cbUrl.searchParams.get('code'), `code in callback: ${cb.url}`);
  const expectedState = new URL(AUTH_URL).searchParams.get('state');
  if (expectedState !== null) assert.equal(cbUrl.searchParams.get('state'), expectedState, 'state echoed');
  ok(current);

  console.log(`CALLBACK ${cb.url}`);
  console.log(`bank browser: ${passed} passed, 0 failed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (err) {
  console.log(`not ok - ${current}`);
  console.error(err?.stack ?? String(err));
  console.log(`bank browser: ${passed} passed, 1 failed`);
  try {
    await browser?.close();
  } catch {
    // ignore
  }
  process.exit(1);
}

// Browser test: plugins/README.md's tutorial, step 7, in a real headless Chromium (through
// playwright-core and the system Chromium, as bank_browser.mjs): authorize → login page →
// bank chooser listing Tutorial Bank → consent naming it → the script's form (a wrong PIN
// first, which must show the script's error, then the right one) → redirect to the client.
//
// Env: AUTH_URL (built by the Rust test, with PKCE, id:test and prompt=login), REDIRECT_URI,
//      USERNAME, PASSWORD, CUSTOMER, PIN (the README's), optional CHROMIUM.
// Output: `ok - <step>` lines, then `CALLBACK <url>` for the Rust test to exchange the code.
// Exit status is non-zero on any failure.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const BANK_NAME = 'Tutorial Bank';
const TIMEOUT_MS = 20_000;

const watchdog = setTimeout(() => {
  console.error('tutorial browser: timed out after 120s');
  process.exit(1);
}, 120_000);
watchdog.unref();

let browser;
let passed = 0;
let current = 'launch chromium';
const ok = (name) => {
  passed += 1;
  console.log(`ok - ${name}`);
};

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
    timeout: TIMEOUT_MS,
  });
  ok(current);
  // The dev CA is not in Chromium's trust store (flow.mjs checks TLS against it).
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();

  // The redirect_uri's host does not answer: the redirect hop is seen as a request.
  const isCallback = (url) => url.startsWith(`${REDIRECT_URI}?`);
  const callback = new Promise((resolve) => {
    page.on('request', (req) => {
      if (isCallback(req.url())) resolve(req.url());
    });
  });
  await page.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, body: 'ok' }));
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
  await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  assert.equal(await heading(), 'Sign in');
  await page.locator('input[name=username]').fill(env('USERNAME'));
  await page.locator('input[name=password]').fill(env('PASSWORD'));
  await submitting('/login', () => page.locator('form:has(input[name=password])').getByRole('button', { name: 'Sign in' }).click());
  ok(current);

  current = 'bank chooser lists Tutorial Bank';
  assert.equal(await heading(), 'Choose your bank');
  const bank = page.locator('button[name=institution][value="tutorial-bank"]');
  assert.equal((await bank.innerText()).includes(BANK_NAME), true, 'the button names the bank');
  await submitting('/choose', () => bank.click());
  ok(current);

  current = 'consent names Tutorial Bank';
  assert.equal(await heading(), 'Allow access');
  assert.equal(await page.locator('.institution').innerText(), BANK_NAME);
  await submitting('/consent', () => page.getByRole('button', { name: 'Allow' }).click());
  ok(current);

  current = "the script's form";
  assert.equal(await heading(), 'Sign in to Tutorial Bank');
  const customer = page.getByLabel('Customer number', { exact: true });
  const pin = page.getByLabel('PIN', { exact: true });
  assert.equal(await pin.getAttribute('type'), 'password', 'the PIN is masked');
  ok(current);

  current = 'a wrong PIN shows the error';
  await customer.fill(env('CUSTOMER'));
  await pin.fill('0000');
  await submitting('/journey', () => page.getByRole('button', { name: 'Continue' }).click());
  assert.deepEqual(await alerts(), ['Wrong PIN.']);
  assert.equal(await customer.inputValue(), env('CUSTOMER'), 'the customer number is kept');
  ok(current);

  current = 'the right PIN returns to the app';
  await pin.fill(env('PIN'));
  await page.getByRole('button', { name: 'Continue' }).click();
  const cb = await Promise.race([
    callback,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`no redirect to ${REDIRECT_URI} (page at ${page.url()})`)), TIMEOUT_MS).unref(),
    ),
  ]);
  assert.ok(new URL(cb).searchParams.get('code'), `code in ${cb}`);
  ok(current);

  console.log(`CALLBACK ${cb}`);
  console.log(`tutorial browser: ${passed} passed, 0 failed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (err) {
  console.log(`not ok - ${current}`);
  console.error(err?.stack ?? String(err));
  console.log(`tutorial browser: ${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

// Browser test: the user's dashboard at /account in a real headless Chromium, driven
// through playwright-core with the system Chromium. The visitor has no session: the page
// signs them in, lists the app they granted access to, and the app is gone after Revoke.
//
// Env: ACCOUNT_URL, USERNAME, PASSWORD, APP_NAME, optional SCREENSHOT_DIR, optional CHROMIUM.
// Output: `ok - <step>` lines; exit status non-zero on any failure.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env } from './lib/rp.mjs';

const ACCOUNT_URL = env('ACCOUNT_URL');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const APP_NAME = env('APP_NAME');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const TIMEOUT_MS = 20_000;

const watchdog = setTimeout(() => {
  console.error('account_browser: timed out after 120s');
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

  // The dev CA is not in Chromium's trust store (see browser.mjs).
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  // Any CSP violation (an inline script or style the page rules forbid) fails the test.
  const problems = [];
  // (Failed loads are judged by their URL below: the browser's own favicon request is
  // no part of the page.)
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      problems.push(msg.text());
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') {
      problems.push(`${r.status()} ${r.url()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(err.message));

  current = 'sign-in form at /account';
  const resp = await page.goto(ACCOUNT_URL, { waitUntil: 'domcontentloaded' });
  assert.ok(resp, 'navigation response');
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()['cache-control'], 'no-store');
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  await page.getByLabel('Username').fill(USERNAME);
  await page.getByLabel('Password').fill(PASSWORD);
  await screenshot(page, 'account-login');
  ok(current);

  current = 'sign in';
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your apps and banks' }).waitFor({ state: 'visible' });
  ok(current);

  current = 'the app is listed';
  const apps = page.locator('section[aria-labelledby=apps]');
  await apps.getByText(APP_NAME).waitFor({ state: 'visible' });
  const scopes = (await apps.locator('ul.scopes li').allInnerTexts()).join('\n');
  assert.match(scopes, /email address/i, `scopes in plain words: ${JSON.stringify(scopes)}`);
  await screenshot(page, 'account-dashboard');
  ok(current);

  current = 'revoke the app';
  await page.getByRole('button', { name: `Revoke access for ${APP_NAME}` }).click();
  await page.getByRole('status').waitFor({ state: 'visible' });
  assert.match(await page.getByRole('status').innerText(), /access has ended/);
  assert.equal(await apps.getByText(APP_NAME).count(), 0, 'the app is gone');
  await apps.getByText('No app has access to your data.').waitFor({ state: 'visible' });
  await screenshot(page, 'account-revoked');
  ok(current);

  current = 'no page errors';
  assert.deepEqual(problems, [], `console errors: ${problems.join('\n')}`);
  ok(current);

  console.log(`account_browser: ${passed} passed, 0 failed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (err) {
  console.log(`not ok - ${current}`);
  console.error(err?.stack ?? String(err));
  console.log(`account_browser: ${passed} passed, 1 failed`);
  try {
    await browser?.close();
  } catch {
    // ignore
  }
  process.exit(1);
}

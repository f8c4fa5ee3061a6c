// Browser test: the user's dashboard at /account in a real headless Chromium, driven
// through playwright-core with the system Chromium (lib/browser.mjs). The visitor has no session: the page
// signs them in, lists the app they granted access to, and the app is gone after Revoke.
//
// Env: ACCOUNT_URL, USERNAME, PASSWORD, APP_NAME, optional SCREENSHOT_DIR, optional CHROMIUM.
// Output: `ok - <step>` lines; exit status non-zero on any failure.

import assert from 'node:assert/strict';
import { newPage, run, screenshot } from './lib/browser.mjs';
import { env } from './lib/rp.mjs';

const ACCOUNT_URL = env('ACCOUNT_URL');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const APP_NAME = env('APP_NAME');

await run('account_browser', async (browser, t) => {
  const page = await newPage(browser);
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

  t.step('sign-in form at /account');
  const resp = await page.goto(ACCOUNT_URL, { waitUntil: 'domcontentloaded' });
  assert.ok(resp, 'navigation response');
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()['cache-control'], 'no-store');
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  await page.getByLabel('Username').fill(USERNAME);
  await page.getByLabel('Password').fill(PASSWORD);
  await screenshot(page, 'account-login');
  t.ok();

  t.step('sign in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your apps and banks' }).waitFor({ state: 'visible' });
  t.ok();

  t.step('the app is listed');
  const apps = page.locator('section[aria-labelledby=apps]');
  await apps.getByText(APP_NAME).waitFor({ state: 'visible' });
  const scopes = (await apps.locator('ul.scopes li').allInnerTexts()).join('\n');
  assert.match(scopes, /email address/i, `scopes in plain words: ${JSON.stringify(scopes)}`);
  await screenshot(page, 'account-dashboard');
  t.ok();

  t.step('revoke the app');
  await page.getByRole('button', { name: `Revoke access for ${APP_NAME}` }).click();
  await page.getByRole('status').waitFor({ state: 'visible' });
  assert.match(await page.getByRole('status').innerText(), /access has ended/);
  assert.equal(await apps.getByText(APP_NAME).count(), 0, 'the app is gone');
  await apps.getByText('No app has access to your data.').waitFor({ state: 'visible' });
  await screenshot(page, 'account-revoked');
  t.ok();

  t.step('no page errors');
  assert.deepEqual(problems, [], `console errors: ${problems.join('\n')}`);
  t.ok();

});

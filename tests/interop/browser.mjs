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
import { expectRequestTo, newPage, run, screenshot } from './lib/browser.mjs';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

await run('browser', async (browser, t) => {
  const page = await newPage(browser, { log: true, unanswered: [REDIRECT_URI] });
  const callback = await expectRequestTo(page, REDIRECT_URI);

  t.step('login page');
  const resp = await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  assert.ok(resp, 'navigation response');
  assert.equal(resp.status(), 200, `login page status (final URL ${page.url()})`);
  assert.match(new URL(page.url()).pathname, /\/interaction\/[^/]+$/, `login page URL ${page.url()}`);
  const loginForm = page.locator('form:has(input[name=password])');
  await loginForm.waitFor({ state: 'visible' });
  await page.locator('input[name=username]').fill(USERNAME);
  await page.locator('input[name=password]').fill(PASSWORD);
  await screenshot(page, 'login');
  t.ok();

  t.step('submit login');
  const interactionUrl = page.url();
  await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && /\/login$/.test(new URL(r.url()).pathname)),
    loginForm.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  t.ok();

  t.step('consent page');
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
  t.ok();

  t.step('approve consent');
  await approve.click();
  const cb = await callback();
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
  t.ok();

  console.log(`CALLBACK ${cb.url}`);
});

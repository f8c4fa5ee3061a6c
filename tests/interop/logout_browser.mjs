// Browser test: sign in (login + consent) in a real headless Chromium, then RP-Initiated
// Logout without an id_token_hint: the provider's confirmation page, "Sign out", and the
// redirect to the registered post_logout_redirect_uri with state.
//
// Env: AUTH_URL, REDIRECT_URI, USERNAME, PASSWORD, END_SESSION_URL (the end-session request,
//      with client_id, post_logout_redirect_uri and state), POST_LOGOUT_URI, optional
//      SCREENSHOT_DIR, optional CHROMIUM.
// Output: `ok - <step>` lines, then `LOGGED_OUT <url>` with the URL the browser landed on.

import assert from 'node:assert/strict';
import { expectRequestTo, newPage, run, screenshot } from './lib/browser.mjs';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const END_SESSION_URL = env('END_SESSION_URL');
const POST_LOGOUT_URI = env('POST_LOGOUT_URI');

await run('logout_browser', async (browser, t) => {
  const opened = { log: true, unanswered: [REDIRECT_URI, POST_LOGOUT_URI] };
  let page = await newPage(browser, opened);
  const context = page.context();
  const callback = await expectRequestTo(page, REDIRECT_URI);

  t.step('sign in and consent');
  await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  await page.getByLabel('Username').fill(USERNAME);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('button[name=decision][value=approve]').click();
  const cb = await callback();
  assert.ok(new URL(cb.url).searchParams.get('code'), `code in callback: ${cb.url}`);
  t.ok();

  // A tab of its own (the same cookies): the first one is still failing over to Chromium's
  // error page for the client's unresolvable callback host.
  t.step('logout confirmation page');
  await page.close();
  page = await newPage(context, opened);
  const loggedOut = await expectRequestTo(page, POST_LOGOUT_URI);
  const resp = await page.goto(END_SESSION_URL, { waitUntil: 'domcontentloaded' });
  assert.equal(resp.status(), 200, 'the confirmation page, not a redirect');
  const csp = resp.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'none'/, `CSP: ${csp}`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en', 'the page names its language');
  assert.equal(await page.locator('input[name=csrf_token]').count(), 1, 'the form carries a CSRF token');
  assert.match(await page.locator('h1').innerText(), /Sign out/);
  await screenshot(page, 'logout-confirm');
  t.ok();

  t.step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  const out = await loggedOut();
  assert.equal(out.method, 'GET', 'a GET redirect');
  assert.ok(out.from, `reached ${POST_LOGOUT_URI} by a redirect`);
  assert.equal(out.from.method, 'POST', 'redirected from the confirmation form POST');
  assert.match(new URL(out.from.url).pathname, /\/session\/end\/confirm$/, `from ${out.from.url}`);
  const expectedState = new URL(END_SESSION_URL).searchParams.get('state');
  assert.equal(new URL(out.url).searchParams.get('state'), expectedState, 'state echoed');
  t.ok();

  console.log(`LOGGED_OUT ${out.url}`);
});

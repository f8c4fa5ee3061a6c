// Browser test: a bank connection through Consentry's pages in a real headless Chromium,
// driven through playwright-core (which never downloads a browser; the system Chromium is
// used), with the shared setup of lib/browser.mjs.
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
import { expectRequestTo, newPage, run, screenshot, submitting } from './lib/browser.mjs';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const BANK_USERNAME = process.env.BANK_USERNAME || 'sandbox';
const BANK_PASSWORD = process.env.BANK_PASSWORD || 'sandbox-password';
const BANK_NAME = 'Sandbox Bank';
const BANK_ID = 'sandbox-bank';
const INTERACTION = /^\/interaction\/[^/]+$/;

await run('bank browser', async (browser, t) => {
  const page = await newPage(browser, { log: true, unanswered: [REDIRECT_URI] });
  const callback = await expectRequestTo(page, REDIRECT_URI);
  const heading = async () => (await page.locator('h1').first().innerText()).trim();
  const alerts = async () => (await page.locator('[role=alert]').allInnerTexts()).map((text) => text.trim());

  t.step('login page');
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
  t.ok();

  t.step('submit login');
  await submitting(page, '/login', () => loginForm.getByRole('button', { name: 'Sign in' }).click());
  t.ok();

  t.step('bank chooser page');
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
  t.ok();

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

  t.step('search narrows the list');
  {
    const found = await doSearch('otp');
    assert.ok(found.length >= 1 && found.length < all.length, `"otp" narrows the list: ${JSON.stringify(found)}`);
    assert.ok(found.every((b) => /otp/i.test(b.name)), `every match names "otp": ${JSON.stringify(found)}`);
    assert.ok(!found.some((b) => b.id === BANK_ID), `${BANK_NAME} is filtered out: ${JSON.stringify(found)}`);
  }
  t.ok();

  t.step('search "sandbox"');
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
  t.ok();

  t.step(`choose ${BANK_NAME}`);
  const bankButton = chooseForm.locator(`button[name=institution][value="${BANK_ID}"]`);
  assert.equal((await bankButton.locator('span').first().innerText()).trim(), BANK_NAME);
  await submitting(page, '/choose', () => bankButton.click());
  t.ok();

  t.step('consent page names the bank');
  await page.locator('h1').first().waitFor({ state: 'visible' });
  assert.equal(await heading(), 'Allow access', `consent page (at ${page.url()})`);
  assert.equal(new URL(page.url()).pathname, new URL(interactionUrl).pathname, 'the chooser returns to the interaction');
  assert.equal(await page.locator('.institution').innerText(), BANK_NAME, 'the consent page names the bank');
  assert.equal(await page.locator('button[name=decision][value=deny]').count(), 1, 'deny button');
  assert.ok((await page.locator('ul.scopes li').count()) > 0, 'the consent page lists scopes');
  await screenshot(page, 'bank-consent');
  t.ok();

  t.step('approve consent');
  await submitting(page, '/consent', () => page.locator('button[name=decision][value=approve]').click());
  t.ok();

  t.step(`${BANK_NAME} sign-in form`);
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
  t.ok();

  const fillBank = async (username, password) => {
    await bankForm.locator('input[name=username]').fill(username);
    await bankForm.locator('input[name=password]').fill(password);
  };

  t.step('wrong bank password shows the error');
  await fillBank(BANK_USERNAME, `${BANK_PASSWORD}-wrong`);
  await submitting(page, '/journey', () => bankForm.locator('button[name=action][value=submit]').click());
  await page.locator('[role=alert]').first().waitFor({ state: 'visible' });
  assert.deepEqual(await alerts(), ['Wrong username or password.']);
  assert.equal(page.url(), interactionUrl, 'the form is shown again at the interaction URL');
  await bankForm.waitFor({ state: 'visible' });
  await screenshot(page, 'bank-form-error');
  t.ok();

  t.step('submit bank credentials');
  await fillBank(BANK_USERNAME, BANK_PASSWORD);
  await bankForm.locator('button[name=action][value=submit]').click();
  const cb = await callback();
  t.ok();

  t.step('redirect to the client');
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
  t.ok();

  console.log(`CALLBACK ${cb.url}`);
});

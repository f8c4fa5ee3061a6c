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
import { expectRequestTo, newPage, run, submitting } from './lib/browser.mjs';
import { env } from './lib/rp.mjs';

const AUTH_URL = env('AUTH_URL');
const REDIRECT_URI = env('REDIRECT_URI');
const BANK_NAME = 'Tutorial Bank';

await run('tutorial browser', async (browser, t) => {
  const page = await newPage(browser);
  // The redirect_uri's host does not answer: the redirect hop is seen as a request.
  const callback = await expectRequestTo(page, REDIRECT_URI);
  const heading = async () => (await page.locator('h1').first().innerText()).trim();
  const alerts = async () => (await page.locator('[role=alert]').allInnerTexts()).map((text) => text.trim());

  t.step('login page');
  await page.goto(AUTH_URL, { waitUntil: 'domcontentloaded' });
  assert.equal(await heading(), 'Sign in');
  await page.locator('input[name=username]').fill(env('USERNAME'));
  await page.locator('input[name=password]').fill(env('PASSWORD'));
  await submitting(page, '/login', () => page.locator('form:has(input[name=password])').getByRole('button', { name: 'Sign in' }).click());
  t.ok();

  t.step('bank chooser lists Tutorial Bank');
  assert.equal(await heading(), 'Choose your bank');
  const bank = page.locator('button[name=institution][value="tutorial-bank"]');
  assert.equal((await bank.innerText()).includes(BANK_NAME), true, 'the button names the bank');
  await submitting(page, '/choose', () => bank.click());
  t.ok();

  t.step('consent names Tutorial Bank');
  assert.equal(await heading(), 'Allow access');
  assert.equal(await page.locator('.institution').innerText(), BANK_NAME);
  await submitting(page, '/consent', () => page.getByRole('button', { name: 'Allow' }).click());
  t.ok();

  t.step("the script's form");
  assert.equal(await heading(), 'Sign in to Tutorial Bank');
  const customer = page.getByLabel('Customer number', { exact: true });
  const pin = page.getByLabel('PIN', { exact: true });
  assert.equal(await pin.getAttribute('type'), 'password', 'the PIN is masked');
  t.ok();

  t.step('a wrong PIN shows the error');
  await customer.fill(env('CUSTOMER'));
  await pin.fill('0000');
  await submitting(page, '/journey', () => page.getByRole('button', { name: 'Continue' }).click());
  assert.deepEqual(await alerts(), ['Wrong PIN.']);
  assert.equal(await customer.inputValue(), env('CUSTOMER'), 'the customer number is kept');
  t.ok();

  t.step('the right PIN returns to the app');
  await pin.fill(env('PIN'));
  await page.getByRole('button', { name: 'Continue' }).click();
  const cb = (await callback()).url;
  assert.ok(new URL(cb).searchParams.get('code'), `code in ${cb}`);
  t.ok();

  console.log(`CALLBACK ${cb}`);
});

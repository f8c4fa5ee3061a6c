// Interop test: the device authorization grant (RFC 8628) with openid-client v6 as a
// desktop app (a public client: it holds no secret), and headless Chromium (playwright-core,
// the system Chromium) as the user walking the verification page: the code, the login, the
// consent page showing the app and the code, approve. The app's poll then completes and
// openid-client validates the ID token.
//
// Env: ISSUER, CLIENT_ID, USERNAME, PASSWORD, optional CHROMIUM.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA for openid-client;
// Chromium ignores certificate errors (it does not read that variable).

import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';
import { endRun, env, startRun, step } from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const TIMEOUT_MS = 20_000;

startRun('device');

const config = await step('discovery advertises the device authorization endpoint', async () => {
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, client.None());
  const md = config.serverMetadata();
  assert.equal(md.device_authorization_endpoint, `${ISSUER}/device/auth`);
  assert.ok(md.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));
  return config;
});

const device = await step('initiateDeviceAuthorization', async () => {
  const r = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
  assert.match(r.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.ok(r.device_code);
  assert.ok(r.verification_uri_complete.startsWith(r.verification_uri));
  assert.equal(r.interval, 5);
  return r;
});

// The app polls while the user signs in; openid-client waits `interval` between polls and
// keeps going through authorization_pending.
const polled = client.pollDeviceAuthorizationGrant(config, device);
polled.catch(() => {});

const browser = await step('launch chromium', () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    timeout: TIMEOUT_MS,
  }),
);
const context = await browser.newContext({ ignoreHTTPSErrors: true });
context.setDefaultTimeout(TIMEOUT_MS);
const page = await context.newPage();

await step('verification page, code filled in from verification_uri_complete', async () => {
  const resp = await page.goto(device.verification_uri_complete, { waitUntil: 'domcontentloaded' });
  assert.equal(resp.status(), 200);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  const input = page.getByLabel('Code');
  assert.equal(await input.inputValue(), device.user_code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/interaction\/[^/]+$/);
});

await step('login', async () => {
  await page.getByLabel('Username').fill(USERNAME);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('button[name=decision][value=approve]').waitFor({ state: 'visible' });
});

await step('consent shows the app and the code, approve', async () => {
  const text = await page.locator('main').innerText();
  assert.ok(text.includes('Desktop App'), `app name on the consent page: ${text}`);
  assert.ok(text.includes(device.user_code), `user code on the consent page: ${text}`);
  await page.locator('button[name=decision][value=approve]').click();
  await page.getByRole('heading', { name: 'Device connected' }).waitFor({ state: 'visible' });
});

await browser.close();

await step('pollDeviceAuthorizationGrant completes and the ID token validates', async () => {
  const tokens = await polled;
  assert.ok(tokens.access_token);
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  const claims = tokens.claims();
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, CLIENT_ID);
  assert.ok(claims.sid, 'sid in the ID token');
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
});

endRun();

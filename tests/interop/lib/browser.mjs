// What every Chromium test shares: the browser launched through playwright-core (which never
// downloads one; the system Chromium is used), a page that ignores the dev CA, steps reported
// as `ok - <step>` lines, a watchdog, and how a redirect to a host that does not answer (the
// client's redirect_uri) is seen.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const TIMEOUT_MS = 20_000;
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';

/// Runs `body(browser, t)` as the test `name`: `t.step(name)` starts a step, `t.ok()` passes
/// it. A failed step prints `not ok - <step>` and the error, and exits non-zero; so does a run
/// past two minutes. The browser is closed either way.
export async function run(name, body) {
  const watchdog = setTimeout(() => {
    console.error(`${name}: timed out after 120s`);
    process.exit(1);
  }, 120_000);
  watchdog.unref();
  let passed = 0;
  let current = 'launch chromium';
  const t = {
    step(step) {
      current = step;
    },
    ok() {
      passed += 1;
      console.log(`ok - ${current}`);
    },
  };
  let browser;
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
    t.ok();
    await body(browser, t);
    console.log(`${name}: ${passed} passed, 0 failed`);
    await browser.close();
    clearTimeout(watchdog);
  } catch (err) {
    console.log(`not ok - ${current}`);
    console.error(err?.stack ?? String(err));
    console.log(`${name}: ${passed} passed, 1 failed`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

/// A page in a fresh context of `browser`, or in `browser` when it is a context already (a
/// second tab with the same cookies). Chromium does not read NODE_EXTRA_CA_CERTS and the provider's
/// dev CA is not in its trust store, so certificate errors are ignored, in the browser only
/// (flow.mjs proves TLS trust against the dev CA with verification on). With `log`, the
/// page's console errors and warnings, script errors and failed requests are printed, except
/// failed requests to the `unanswered` URLs (hosts that do not answer by design).
export async function newPage(browser, { log = false, unanswered = [] } = {}) {
  let context = browser;
  if (typeof browser.newContext === 'function') {
    context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(TIMEOUT_MS);
  }
  const page = await context.newPage();
  if (log) {
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        console.error(`[chromium console ${msg.type()}] ${msg.text()}`);
      }
    });
    page.on('pageerror', (err) => console.error(`[chromium page error] ${err.message}`));
    page.on('requestfailed', (req) => {
      if (unanswered.some((target) => isAt(req.url(), target))) return;
      console.error(`[chromium request failed] ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
  }
  return page;
}

const isAt = (url, target) => url === target || url.startsWith(`${target}?`);

/// Watches for the browser's first request to `target`, a URL whose host does not answer (a
/// client's redirect_uri), and returns a function that waits for it: `{ url, method, from }`,
/// `from` being the request it was redirected from. Playwright calls route handlers only for
/// the first URL of a redirect chain, so a redirect hop (say the 303 from a consent POST) is
/// seen through the 'request' event, raised once Chromium has accepted the redirect (after
/// its own checks, e.g. CSP form-action); that hop then fails DNS, as expected. The route
/// answers in place of the client for a direct load (such as Chromium reloading the failed
/// page), so nothing hangs on it.
export async function expectRequestTo(page, target) {
  let resolve;
  const seen = new Promise((r) => {
    resolve = r;
  });
  page.on('request', (req) => {
    if (!isAt(req.url(), target)) return;
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
        setTimeout(
          () => reject(new Error(`no request to ${target} within ${TIMEOUT_MS} ms (page at ${page.url()})`)),
          TIMEOUT_MS,
        ).unref(),
      ),
    ]);
}

/// Clicks with `click`, waits for the POST it submits (to a path ending in `pathSuffix`), then
/// for the page it leads to.
export async function submitting(page, pathSuffix, click) {
  await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith(pathSuffix)),
    click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
}

/// A full-page screenshot into SCREENSHOT_DIR, when it is set.
export async function screenshot(page, name) {
  if (!SCREENSHOT_DIR) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

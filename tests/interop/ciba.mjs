// Interop test: openid-client v6 completes a CIBA poll flow (OpenID Client-Initiated
// Backchannel Authentication Core 1.0) against a running Consentry provider. The user's
// approval is given on the provider's approval page (/ciba), driven with fetch and cookies
// the way a browser would, while the library polls the token endpoint.
//
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, EXPECTED_SUB.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification stays on.

import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { browse, endRun, env, expectRedirect, findForm, hiddenValue, startRun, step } from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const EXPECTED_SUB = env('EXPECTED_SUB');

startRun('ciba');

const config = await step('discovery advertises CIBA', async () => {
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
  const md = config.serverMetadata();
  assert.ok(md.backchannel_authentication_endpoint, 'backchannel_authentication_endpoint');
  assert.deepEqual(md.backchannel_token_delivery_modes_supported, ['poll', 'ping']);
  assert.ok(md.grant_types_supported.includes('urn:openid:params:grant-type:ciba'));
  return config;
});

const bindingMessage = `N-${Math.floor(Math.random() * 9000 + 1000)}`;
const authReq = await step('initiateBackchannelAuthentication', async () => {
  const res = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid email',
    login_hint: USERNAME,
    binding_message: bindingMessage,
  });
  assert.ok(res.auth_req_id, 'auth_req_id');
  assert.ok(res.expires_in > 0, 'expires_in');
  return res;
});

// The library waits `interval` seconds before each poll; the approval happens meanwhile.
const polling = client.pollBackchannelAuthenticationGrant(config, authReq);
polling.catch(() => {});

const origin = new URL(ISSUER).origin;
const page = `${origin}/ciba`;
await step('approval page: sign in', async () => {
  const signIn = await browse(page);
  assert.equal(signIn.res.status, 200);
  const form = findForm(signIn, '/ciba/login');
  const posted = await browse(new URL(form.action, signIn.url), {
    method: 'POST',
    form: { csrf_token: hiddenValue(form, 'csrf_token'), username: USERNAME, password: PASSWORD },
  });
  assert.equal(expectRedirect(posted).pathname, '/ciba');
});

await step('approval page: approve the request showing the binding message', async () => {
  const listed = await browse(page);
  assert.ok(listed.text.includes(bindingMessage), 'binding message shown');
  const form = findForm(listed, '/ciba/decide');
  const approved = await browse(new URL(form.action, listed.url), {
    method: 'POST',
    form: { csrf_token: hiddenValue(form, 'csrf_token'), request: hiddenValue(form, 'request'), decision: 'approve' },
  });
  assert.equal(approved.res.status, 200, approved.text.slice(0, 400));
});

await step('pollBackchannelAuthenticationGrant returns validated tokens', async () => {
  const tokens = await polling;
  assert.ok(tokens.access_token, 'access_token');
  const claims = tokens.claims();
  assert.equal(claims.sub, EXPECTED_SUB);
  assert.equal(claims.aud, CLIENT_ID);
  assert.equal(claims.iss, ISSUER);
});

endRun();

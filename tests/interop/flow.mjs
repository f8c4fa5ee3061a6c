// Interop test: a certified OpenID Connect Relying Party library (openid-client v6,
// functional API) against a running Consentry provider.
//
// The login and consent pages are driven the way a browser would drive them (see
// lib/rp.mjs). Every step asserts with node:assert/strict and prints `ok - <step>`; the
// first failure prints `not ok - <step>` plus the error and exits 1.
//
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USERNAME, PASSWORD.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification
// stays on.

import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { describeError, endRun, env, loginAndConsent, startRun, step } from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

startRun('interop');

// ---------------------------------------------------------------- the flow

const issuerUrl = new URL(ISSUER);

// a. Discovery. The test client is registered with client_secret_basic; openid-client
// v6 defaults to client_secret_post when only a secret is given, so name the method.
const config = await step('discovery', async () => {
  const config = await client.discovery(issuerUrl, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.ok(md.authorization_endpoint, 'authorization_endpoint');
  assert.ok(md.token_endpoint, 'token_endpoint');
  assert.ok(md.userinfo_endpoint, 'userinfo_endpoint');
  assert.ok(md.jwks_uri, 'jwks_uri');
  assert.ok(md.introspection_endpoint, 'introspection_endpoint');
  assert.ok(md.revocation_endpoint, 'revocation_endpoint');
  assert.ok(md.code_challenge_methods_supported?.includes('S256'), 'S256 PKCE advertised');
  return config;
});

// b. Authorization URL with PKCE S256.
const pkceCodeVerifier = client.randomPKCECodeVerifier();
const expectedState = client.randomState();
const expectedNonce = client.randomNonce();
const authUrl = await step('authorization url (PKCE S256)', async () => {
  const code_challenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge,
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
    prompt: 'consent',
  });
  assert.equal(url.origin, issuerUrl.origin);
  assert.equal(url.searchParams.get('response_type'), 'code');
  return url;
});

// c. Login and consent pages.
const callbackUrl = await loginAndConsent(authUrl, {
  issuer: ISSUER,
  redirectUri: REDIRECT_URI,
  username: USERNAME,
  password: PASSWORD,
  consentShows: 'email',
});

await step('callback carries code, state and iss', () => {
  assert.ok(callbackUrl.searchParams.get('code'), `code in ${callbackUrl.href}`);
  assert.equal(callbackUrl.searchParams.get('state'), expectedState, 'state echoed');
  assert.equal(callbackUrl.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
  assert.equal(callbackUrl.searchParams.get('error'), null, `no error in ${callbackUrl.href}`);
});

// d. Code exchange.
const tokens = await step('authorization code grant', async () => {
  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier,
    expectedState,
    expectedNonce,
  });
  assert.ok(tokens.access_token, 'access_token');
  assert.ok(tokens.id_token, 'id_token');
  assert.ok(tokens.refresh_token, 'refresh_token (offline_access)');
  assert.equal(tokens.token_type?.toLowerCase(), 'bearer');
  const claims = tokens.claims();
  assert.ok(claims, 'id_token claims');
  assert.equal(typeof claims.sub, 'string');
  assert.ok(claims.sub.length > 0, 'sub non-empty');
  assert.equal(claims.nonce, expectedNonce, 'nonce');
  assert.equal(claims.iss, ISSUER);
  return tokens;
});
const sub = tokens.claims().sub;

// e. UserInfo.
await step('userinfo', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, sub);
  assert.equal(info.sub, sub);
  assert.ok(info.email, `email in userinfo: ${JSON.stringify(info)}`);
});

// f. Refresh with rotation.
const refreshed = await step('refresh token grant (rotation)', async () => {
  const r = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(r.access_token, 'new access_token');
  assert.notEqual(r.access_token, tokens.access_token, 'access token is new');
  assert.ok(r.refresh_token, 'a new refresh_token is issued');
  assert.notEqual(r.refresh_token, tokens.refresh_token, 'refresh token rotated');
  if (r.id_token) assert.equal(r.claims()?.sub, sub, 'refreshed id_token sub');
  return r;
});

// g. Introspection of the new access token.
await step('introspect access token', async () => {
  const i = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(i.active, true, JSON.stringify(i));
  assert.equal(i.sub, sub);
  assert.equal(i.client_id, CLIENT_ID);
});

// h. Revocation of the new refresh token.
await step('revoke refresh token', async () => {
  await client.tokenRevocation(config, refreshed.refresh_token);
});
await step('revoked refresh token is inactive', async () => {
  const i = await client.tokenIntrospection(config, refreshed.refresh_token);
  assert.equal(i.active, false, JSON.stringify(i));
});

// i. Authorization codes are single use (RFC 6749 §4.1.2).
await step('replayed code is invalid_grant', async () => {
  await assert.rejects(
    client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier, expectedState, expectedNonce }),
    (err) => {
      assert.equal(err.error, 'invalid_grant', describeError(err));
      return true;
    },
  );
});

endRun();

// FAPI 2.0-style interop test: openid-client v6 (functional API) against a running
// Consentry provider, using the FAPI 2.0 Security Profile building blocks:
//
//   * pushed authorization requests (RFC 9126) with PKCE S256,
//   * private_key_jwt client authentication (RFC 7523, ES256),
//   * DPoP sender-constrained tokens (RFC 9449): proofs on PAR, token, userinfo and
//     refresh; the access token is bound to the DPoP key (cnf.jkt, RFC 7638).
//
// The login and consent pages are driven the way a browser would drive them (see
// lib/rp.mjs). Every step asserts with node:assert/strict and prints `ok - <step>`; the
// first failure prints `not ok - <step>` plus the error and exits 1.
//
// Env: ISSUER, CLIENT_ID, PRIVATE_JWK (the client's private EC P-256 signing key as a
// JSON JWK with `kid`, alg ES256), REDIRECT_URI, USERNAME, PASSWORD.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification
// stays on.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { decodeJwt, endRun, env, importPrivateJwk, loginAndConsent, refusal, startRun, step } from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const PRIVATE_JWK = env('PRIVATE_JWK');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

startRun('fapi2');

// RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC or RSA or OKP public key.
async function jwkThumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  const required = {
    EC: ['crv', 'kty', 'x', 'y'],
    RSA: ['e', 'kty', 'n'],
    OKP: ['crv', 'kty', 'x'],
  }[jwk.kty];
  assert.ok(required, `unsupported kty ${jwk.kty}`);
  // Members in lexicographic order, no whitespace.
  const canonical = JSON.stringify(Object.fromEntries(required.map((k) => [k, jwk[k]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

// FAPI2_DEBUG=1 prints what the provider answered to the refused requests.
function debugRefusal(r) {
  if (process.env.FAPI2_DEBUG) console.error(`  refusal: ${r.detail}`);
}

// ---------------------------------------------------------------- the flow

const issuerUrl = new URL(ISSUER);
const SCOPE = 'openid profile email offline_access';

// Client signing key for private_key_jwt (RFC 7523 client assertions).
const clientAuth = await step('import client private key (ES256)', async () => {
  const { key, kid } = await importPrivateJwk(PRIVATE_JWK);
  assert.equal(key.algorithm.name, 'ECDSA', 'PRIVATE_JWK is an EC key');
  return client.PrivateKeyJwt({ key, kid });
});

// a. Discovery.
const config = await step('discovery (PAR, DPoP, private_key_jwt advertised)', async () => {
  const config = await client.discovery(issuerUrl, CLIENT_ID, undefined, clientAuth);
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.ok(md.authorization_endpoint, 'authorization_endpoint');
  assert.ok(md.token_endpoint, 'token_endpoint');
  assert.ok(md.userinfo_endpoint, 'userinfo_endpoint');
  assert.ok(md.introspection_endpoint, 'introspection_endpoint');
  assert.ok(md.pushed_authorization_request_endpoint, 'pushed_authorization_request_endpoint');
  assert.ok(md.dpop_signing_alg_values_supported?.includes('ES256'), `ES256 DPoP: ${JSON.stringify(md.dpop_signing_alg_values_supported)}`);
  assert.ok(md.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'private_key_jwt advertised');
  assert.ok(md.code_challenge_methods_supported?.includes('S256'), 'S256 PKCE advertised');
  return config;
});

// b. DPoP key pair (generated here, never registered) and its thumbprint.
const dpopKeyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, dpopKeyPair);
const expectedJkt = await jwkThumbprint(dpopKeyPair.publicKey);

// c. Pushed authorization request with PKCE S256, client assertion and a DPoP proof.
const pkceCodeVerifier = client.randomPKCECodeVerifier();
const expectedState = client.randomState();
const expectedNonce = client.randomNonce();
const authUrl = await step('pushed authorization request (PKCE S256, private_key_jwt, DPoP)', async () => {
  const code_challenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge,
      code_challenge_method: 'S256',
      state: expectedState,
      nonce: expectedNonce,
    },
    { DPoP },
  );
  assert.equal(`${url.origin}${url.pathname}`, config.serverMetadata().authorization_endpoint);
  assert.equal(url.searchParams.get('client_id'), CLIENT_ID);
  const requestUri = url.searchParams.get('request_uri');
  assert.ok(requestUri?.startsWith('urn:ietf:params:oauth:request_uri:'), `request_uri: ${requestUri}`);
  // Only client_id + request_uri travel through the front channel.
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], url.href);
  return url;
});

// d. Login and consent pages.
const callbackUrl = await loginAndConsent(authUrl, {
  issuer: ISSUER,
  redirectUri: REDIRECT_URI,
  username: USERNAME,
  password: PASSWORD,
});

await step('callback carries code, state and iss', () => {
  assert.equal(callbackUrl.searchParams.get('error'), null, `no error in ${callbackUrl.href}`);
  assert.ok(callbackUrl.searchParams.get('code'), `code in ${callbackUrl.href}`);
  assert.equal(callbackUrl.searchParams.get('state'), expectedState, 'state echoed');
  assert.equal(callbackUrl.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
});

// e. Code exchange with a DPoP proof: a DPoP-bound access token.
function assertDpopBound(tokens, label) {
  assert.equal(tokens.token_type?.toLowerCase(), 'dpop', `${label} token_type: ${tokens.token_type}`);
  const { header, payload } = decodeJwt(tokens.access_token);
  assert.ok(header.alg && header.alg !== 'none', `${label} access token alg: ${header.alg}`);
  assert.equal(payload.cnf?.jkt, expectedJkt, `${label} access token cnf.jkt: ${JSON.stringify(payload.cnf)}`);
  assert.equal(payload.client_id, CLIENT_ID, `${label} access token client_id (RFC 9068 §2.2)`);
  return payload;
}

const tokens = await step('authorization code grant (DPoP, private_key_jwt)', async () => {
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callbackUrl),
    { pkceCodeVerifier, expectedState, expectedNonce },
    undefined,
    { DPoP },
  );
  assert.ok(tokens.access_token, 'access_token');
  assert.ok(tokens.id_token, 'id_token');
  assert.ok(tokens.refresh_token, 'refresh_token (offline_access)');
  const claims = tokens.claims();
  assert.ok(claims, 'id_token claims');
  assert.equal(typeof claims.sub, 'string');
  assert.ok(claims.sub.length > 0, 'sub non-empty');
  assert.equal(claims.nonce, expectedNonce, 'nonce');
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), true, 'aud');
  return tokens;
});
const sub = tokens.claims().sub;

await step('token_type is DPoP and access token cnf.jkt is the DPoP key thumbprint', async () => {
  const payload = assertDpopBound(tokens, 'code grant');
  assert.equal(payload.sub, sub, 'access token sub');
});

// f. UserInfo with the DPoP handle.
await step('userinfo (DPoP)', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  assert.equal(info.sub, sub);
  assert.ok(info.email, `email in userinfo: ${JSON.stringify(info)}`);
});

// g. Refresh with a DPoP proof of the same key.
const refreshed = await step('refresh token grant (DPoP)', async () => {
  const r = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  assert.ok(r.access_token, 'new access_token');
  assert.notEqual(r.access_token, tokens.access_token, 'access token is new');
  assertDpopBound(r, 'refresh grant');
  if (r.id_token) assert.equal(r.claims()?.sub, sub, 'refreshed id_token sub');
  return r;
});

await step('userinfo with refreshed token (DPoP)', async () => {
  const info = await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP });
  assert.equal(info.sub, sub);
});

// h. Introspection (client authenticated with private_key_jwt).
await step('introspect access token (active, cnf.jkt)', async () => {
  const i = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(i.active, true, JSON.stringify(i));
  assert.equal(i.sub, sub, JSON.stringify(i));
  assert.equal(i.client_id, CLIENT_ID, JSON.stringify(i));
  assert.equal(i.cnf?.jkt, expectedJkt, `introspection cnf.jkt: ${JSON.stringify(i)}`);
  if (i.token_type !== undefined) assert.equal(i.token_type.toLowerCase(), 'dpop', JSON.stringify(i));
});

// i. Negative: the DPoP-bound access token is useless as a plain Bearer token, and
// useless with a proof of some other key (RFC 9449 §7.1).
await step('userinfo without DPoP proof is refused (401)', async () => {
  const r = await refusal(client.fetchUserInfo(config, refreshed.access_token, sub));
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
});

await step('protected resource without DPoP proof is refused (401)', async () => {
  const r = await refusal(
    client.fetchProtectedResource(config, refreshed.access_token, new URL(config.serverMetadata().userinfo_endpoint), 'GET'),
  );
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
  // RFC 9449 §7.1 / RFC 6750 §3: a 401 from a protected resource carries a challenge.
  assert.ok(r.wwwAuthenticate || r.challenges?.length, `401 should carry WWW-Authenticate: ${r.detail}`);
});

await step('userinfo with a DPoP proof of another key is refused (401)', async () => {
  const otherDPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const r = await refusal(client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP: otherDPoP }));
  debugRefusal(r);
  assert.equal(r.status, 401, r.detail);
});

endRun();

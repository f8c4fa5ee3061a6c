// The API contract's "Flow for use case 2", end to end, with openid-client v6 (functional
// API) as the partner:
//
//   1. a client-credentials token with user:create, then POST /users creates the
//      partner's own user (managedBy "client");
//   2. a signed request object (JAR, PS256) that pins that user with
//      claims.id_token.sub.value and asks for mh:con_id, with prompt=consent and
//      max_age=86400;
//   3. no login page (the user is the client's own): consent naming the bank, Sandbox
//      Bank's form, then the redirect back with code, state and iss;
//   4. the code grant: the ID token's sub is the user and mh:con_id names the connection;
//   5. a data-access token from client_credentials with `sub` (introspected), the user's
//      connections through the users API, and `sub` of an unknown user refused.
//
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET (client_secret_basic), PRIVATE_JWK (the client's
// private RSA key as a JSON JWK with `kid`, alg PS256; its public half is registered),
// REDIRECT_URI.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA; verification stays on.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import {
  browse,
  decodeJwt,
  endRun,
  env,
  expectRedirect,
  findForm,
  hiddenValue,
  importPrivateJwk,
  jar,
  refusal,
  startRun,
  step,
} from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const PRIVATE_JWK = env('PRIVATE_JWK');
const REDIRECT_URI = env('REDIRECT_URI');

// The identity service's partner API lives beside the OpenID provider: the issuer is
// `${ORIGIN}/oidc`.
const ORIGIN = ISSUER.replace(/\/oidc\/?$/, '');
const MAX_AGE = 86400;
const BANK_NAME = 'Sandbox Bank';
const CON_ID = /^[0-9a-f]{32}:[0-9a-f-]{36}$/;

startRun('usecase2');

// ---------------------------------------------------------------- 1. discovery

const config = await step('discovery (client_secret_basic)', async () => {
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.ok(md.grant_types_supported?.includes('client_credentials'), 'client_credentials advertised');
  assert.equal(md.request_parameter_supported, true, 'request_parameter_supported');
  assert.ok(md.request_object_signing_alg_values_supported?.includes('PS256'), 'PS256 request objects');
  assert.equal(md.claims_parameter_supported, true, 'claims_parameter_supported');
  assert.ok(md.introspection_endpoint, 'introspection_endpoint');
  return config;
});

const signingKey = await step('import client private key (PS256)', async () => {
  const k = await importPrivateJwk(PRIVATE_JWK);
  assert.equal(k.key.algorithm.name, 'RSA-PSS', 'PRIVATE_JWK is an RSA key for PS256');
  return k;
});

// A bearer call to the partner API through openid-client's protected-resource helper.
async function api(token, method, path, body) {
  const headers = new Headers({ accept: 'application/json' });
  if (body !== undefined) headers.set('content-type', 'application/json');
  const res = await client.fetchProtectedResource(
    config,
    token,
    new URL(`${ORIGIN}${path}`),
    method,
    body === undefined ? undefined : JSON.stringify(body),
    headers,
  );
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, summary: `${method} ${path} -> ${res.status} ${text.slice(0, 600)}` };
}

async function ccToken(parameters) {
  const t = await client.clientCredentialsGrant(config, parameters);
  assert.ok(t.access_token, 'access_token');
  assert.equal(t.token_type?.toLowerCase(), 'bearer', 'token_type');
  return t.access_token;
}

// ---------------------------------------------------------------- 2. the partner's user

const userId = await step('client credentials grant (user:create) and POST /users', async () => {
  const token = await ccToken({ scope: 'user:create' });
  const r = await api(token, 'POST', '/users', { clientUserId: 'some-id' });
  assert.equal(r.status, 201, r.summary);
  assert.ok(typeof r.json?.userId === 'string' && r.json.userId, `userId: ${r.summary}`);
  assert.equal(r.json.clientUserId, 'some-id', r.summary);
  assert.equal(r.json.clientId, CLIENT_ID, r.summary);
  assert.equal(r.json.managedBy, 'client', r.summary);
  return r.json.userId;
});

// ---------------------------------------------------------------- 3. request object

const pkceCodeVerifier = client.randomPKCECodeVerifier();
const expectedState = client.randomState();
const expectedNonce = client.randomNonce();
const CLAIMS = { id_token: { sub: { essential: true, value: userId }, 'mh:con_id': { essential: true } } };

const authUrl = await step('signed request object pins sub (PS256, PKCE S256, prompt consent, max_age)', async () => {
  const url = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid id:sandbox-bank',
      state: expectedState,
      nonce: expectedNonce,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      prompt: 'consent',
      max_age: String(MAX_AGE),
      // openid-client takes `claims` as JSON text and puts the object in the request object.
      claims: JSON.stringify(CLAIMS),
    },
    signingKey,
  );
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request'], url.href);
  const { header, payload } = decodeJwt(url.searchParams.get('request'));
  assert.equal(header.alg, 'PS256', 'request object alg');
  assert.equal(header.kid, signingKey.kid, 'request object kid');
  assert.equal(payload.iss, CLIENT_ID);
  assert.equal(payload.aud, ISSUER);
  assert.equal(payload.max_age, MAX_AGE, 'max_age is a number');
  assert.deepEqual(payload.claims, CLAIMS, 'claims is an object');
  return url;
});

// ---------------------------------------------------------------- 4. the browser

const interactionUrl = await step('authorize redirects to the interaction', async () => {
  const next = expectRedirect(await browse(authUrl));
  assert.equal(next.origin, new URL(ISSUER).origin, `interaction on the provider origin: ${next.href}`);
  assert.match(next.pathname, /\/interaction\/[^/]+$/, `expected /interaction/{uid}: ${next.href}`);
  assert.ok(jar.size > 0, 'authorize should set an interaction cookie');
  return next;
});

const consent = await step('consent page without a login page, naming the bank', async () => {
  const page = await browse(interactionUrl);
  assert.equal(page.res.status, 200, `${page.res.status} ${page.text.slice(0, 600)}`);
  assert.ok(!/type=["']?password/i.test(page.text), 'no login form: the user is the client\'s own');
  assert.ok(page.text.includes('Allow access'), `consent page: ${page.text.slice(0, 1500)}`);
  assert.ok(page.text.includes(BANK_NAME), `consent names ${BANK_NAME}`);
  const form = findForm(page, `${interactionUrl.pathname}/consent`);
  return { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') };
});

await step('approve consent returns to the interaction', async () => {
  const next = expectRedirect(
    await browse(consent.action, { method: 'POST', form: { csrf_token: consent.csrf_token, decision: 'approve' } }),
  );
  assert.equal(next.href, interactionUrl.href, 'back to the interaction for the bank');
});

const bankForm = await step(`${BANK_NAME} sign-in form`, async () => {
  const page = await browse(interactionUrl);
  assert.equal(page.res.status, 200, `${page.res.status} ${page.text.slice(0, 600)}`);
  const form = findForm(page, `${interactionUrl.pathname}/journey`);
  assert.ok(form.inputs.some((i) => i.name === 'username'), 'username input');
  assert.ok(form.inputs.some((i) => i.name === 'password'), 'password input');
  return { action: new URL(form.action, page.url), csrf_token: hiddenValue(form, 'csrf_token') };
});

const callbackUrl = await step('bank credentials redirect to the client with code, state and iss', async () => {
  const callback = expectRedirect(
    await browse(bankForm.action, {
      method: 'POST',
      form: { csrf_token: bankForm.csrf_token, action: 'submit', username: 'sandbox', password: 'sandbox-password' },
    }),
  );
  assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI, `redirect_uri: ${callback.href}`);
  assert.equal(callback.searchParams.get('error'), null, `no error in ${callback.href}`);
  assert.ok(callback.searchParams.get('code'), `code in ${callback.href}`);
  assert.equal(callback.searchParams.get('state'), expectedState, 'state echoed');
  assert.equal(callback.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
  return callback;
});

// ---------------------------------------------------------------- 5. the code grant

const conId = await step('authorization code grant: ID token sub is the user, mh:con_id names the connection', async () => {
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier,
    expectedState,
    expectedNonce,
    maxAge: MAX_AGE,
  });
  assert.ok(tokens.id_token, 'id_token');
  const claims = tokens.claims();
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.sub, userId, 'sub is the pinned user');
  assert.equal(claims.nonce, expectedNonce, 'nonce');
  assert.equal(typeof claims.auth_time, 'number', 'auth_time (max_age was requested)');
  assert.match(String(claims['mh:con_id']), CON_ID, `mh:con_id: ${claims['mh:con_id']}`);
  return claims['mh:con_id'];
});

// ---------------------------------------------------------------- 6. data access

await step('client credentials grant with sub (accounts:read transactions:read:all), introspected', async () => {
  const token = await ccToken({ scope: 'accounts:read transactions:read:all', sub: userId });
  const info = await client.tokenIntrospection(config, token);
  assert.equal(info.active, true, JSON.stringify(info));
  assert.equal(info.sub, userId, `sub: ${JSON.stringify(info)}`);
  assert.equal(info.client_id, CLIENT_ID, `client_id: ${JSON.stringify(info)}`);
  const scopes = String(info.scope).split(' ');
  for (const s of ['accounts:read', 'transactions:read:all']) assert.ok(scopes.includes(s), `scope ${s}: ${info.scope}`);
});

// ---------------------------------------------------------------- 7. the connection

await step('GET /users/{userId}/connections lists the connection (user:read)', async () => {
  const token = await ccToken({ scope: 'user:read' });
  const r = await api(token, 'GET', `/users/${encodeURIComponent(userId)}/connections`);
  assert.equal(r.status, 200, r.summary);
  assert.ok(Array.isArray(r.json), r.summary);
  assert.equal(r.json.length, 1, r.summary);
  assert.equal(r.json[0].id, conId, r.summary);
});

// ---------------------------------------------------------------- 8. an unknown sub

await step('client credentials grant with sub of an unknown user is invalid_grant', async () => {
  const r = await refusal(client.clientCredentialsGrant(config, { scope: 'accounts:read', sub: randomUUID() }));
  assert.equal(r.status, 400, r.detail);
  assert.equal(r.error, 'invalid_grant', r.detail);
});

endRun();

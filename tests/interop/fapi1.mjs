// FAPI 1.0 Advanced interop test: openid-client v6 (functional API) against a running
// Consentry provider, as a FAPI 1 Advanced confidential client:
//
//   * a signed request object by value (JAR, RFC 9101, PS256) carrying PKCE S256,
//     nonce and state;
//   * the hybrid response type `code id_token`, the ID token checked as a detached
//     signature (c_hash, s_hash; FAPI 1 Adv. §5.2.2.1);
//   * private_key_jwt client authentication (RFC 7523, PS256);
//   * certificate-bound access tokens (RFC 8705 §3): every request openid-client makes
//     to the provider presents the client certificate, and the token is refused without it;
//   * then a second authorization with JARM (response_type code, response_mode jwt).
//
// The login and consent pages are driven the way a browser would drive them (see
// lib/rp.mjs); the user's browser holds no client certificate.
//
// Env: ISSUER, CLIENT_ID, PRIVATE_JWK (the client's private RSA key as a JSON JWK with
// `kid`, alg PS256), CLIENT_CERT_PEM and CLIENT_KEY_PEM (its TLS client certificate),
// REDIRECT_URI, USERNAME, PASSWORD.
// TLS: the runner sets NODE_EXTRA_CA_CERTS to the provider's dev CA (a file); the mTLS
// connections trust that CA only.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import {
  authorizeSignedIn,
  decodeJwt,
  endRun,
  env,
  importPrivateJwk,
  loginAndConsent,
  refusal,
  startRun,
  step,
} from './lib/rp.mjs';

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const PRIVATE_JWK = env('PRIVATE_JWK');
const CLIENT_CERT_PEM = env('CLIENT_CERT_PEM');
const CLIENT_KEY_PEM = env('CLIENT_KEY_PEM');
const CA_PEM = readFileSync(env('NODE_EXTRA_CA_CERTS'), 'utf8');
const REDIRECT_URI = env('REDIRECT_URI');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');

const SCOPE = 'openid profile email offline_access';

startRun('fapi1');

// ---------------------------------------------------------------- mutual TLS

// Global fetch cannot present a client certificate; an undici Agent can. Handed to
// openid-client as its customFetch, so discovery, token, userinfo and JWKS requests all
// go over mutual TLS.
const agent = new Agent({ connect: { cert: CLIENT_CERT_PEM, key: CLIENT_KEY_PEM, ca: CA_PEM } });
const mtlsFetch = (url, init) => undiciFetch(url, { ...init, dispatcher: agent });

// RFC 8705 §3.1: the SHA-256 thumbprint of the certificate's DER, base64url.
const expectedX5t = createHash('sha256').update(new X509Certificate(CLIENT_CERT_PEM).raw).digest('base64url');

// ---------------------------------------------------------------- the flow

// What the client registered; openid-client holds the ID token and the JARM response to
// these algorithms. RFC 8705 §5: the provider's mtls_endpoint_aliases are where
// certificates are presented.
const CLIENT_METADATA = {
  id_token_signed_response_alg: 'PS256',
  authorization_signed_response_alg: 'PS256',
  use_mtls_endpoint_aliases: true,
};

// One key signs both the request objects and the client assertions.
const signingKey = await step('import client private key (PS256)', async () => {
  const k = await importPrivateJwk(PRIVATE_JWK);
  assert.equal(k.key.algorithm.name, 'RSA-PSS', 'PRIVATE_JWK is an RSA key for PS256');
  return k;
});
const clientAuth = client.PrivateKeyJwt(signingKey);

const config = await step('discovery over mTLS (JAR, PS256, certificate-bound tokens advertised)', async () => {
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_METADATA, clientAuth, {
    [client.customFetch]: mtlsFetch,
  });
  const md = config.serverMetadata();
  assert.equal(md.issuer, ISSUER);
  assert.equal(md.request_parameter_supported, true, 'request_parameter_supported');
  assert.ok(md.request_object_signing_alg_values_supported?.includes('PS256'), 'PS256 request objects');
  assert.ok(md.id_token_signing_alg_values_supported?.includes('PS256'), 'PS256 ID tokens');
  assert.ok(md.response_types_supported?.includes('code id_token'), 'code id_token');
  assert.ok(md.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'private_key_jwt');
  assert.equal(md.tls_client_certificate_bound_access_tokens, true, 'tls_client_certificate_bound_access_tokens');
  assert.ok(md.mtls_endpoint_aliases?.token_endpoint, `mtls_endpoint_aliases: ${JSON.stringify(md.mtls_endpoint_aliases)}`);
  client.useCodeIdTokenResponseType(config);
  client.enableDetachedSignatureResponseChecks(config);
  return config;
});

// A fresh PKCE verifier, state and nonce for each authorization request.
function newRequest() {
  return {
    pkceCodeVerifier: client.randomPKCECodeVerifier(),
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
  };
}

// FAPI 1 Adv. §5.2.2-1/-10: every parameter travels inside the signed request object;
// openid-client leaves only client_id and request in the front channel.
async function jarAuthorizationUrl(cfg, { pkceCodeVerifier, expectedState, expectedNonce }) {
  const url = await client.buildAuthorizationUrlWithJAR(
    cfg,
    {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      state: expectedState,
      nonce: expectedNonce,
    },
    signingKey,
  );
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request'], url.href);
  return url;
}

function fragmentOf(url) {
  return new URLSearchParams(url.hash.slice(1));
}

// a. Hybrid authorization with a signed request object.
const first = newRequest();
const authUrl = await step('signed request object by value (PS256, PKCE S256, code id_token)', async () => {
  const url = await jarAuthorizationUrl(config, first);
  const { header, payload } = decodeJwt(url.searchParams.get('request'));
  assert.equal(header.alg, 'PS256', 'request object alg');
  assert.equal(header.kid, signingKey.kid, 'request object kid');
  assert.equal(payload.response_type, 'code id_token');
  assert.equal(payload.aud, ISSUER);
  assert.ok(payload.nbf && payload.exp - payload.nbf <= 3600, 'nbf and exp at most 60 minutes apart');
  return url;
});

const callbackUrl = await loginAndConsent(authUrl, {
  issuer: ISSUER,
  redirectUri: REDIRECT_URI,
  username: USERNAME,
  password: PASSWORD,
  consentShows: 'email',
});

await step('hybrid response in the fragment (code, id_token, state, iss)', () => {
  assert.equal(callbackUrl.search, '', `nothing in the query: ${callbackUrl.href}`);
  const f = fragmentOf(callbackUrl);
  assert.equal(f.get('error'), null, `no error in ${callbackUrl.href}`);
  assert.ok(f.get('code'), `code in ${callbackUrl.href}`);
  assert.ok(f.get('id_token'), `id_token in ${callbackUrl.href}`);
  assert.equal(f.get('state'), first.expectedState, 'state echoed');
  assert.equal(f.get('iss'), ISSUER, 'iss (RFC 9207)');
});

// b. Code exchange: openid-client validates the front-channel ID token (signature, nonce,
// c_hash, s_hash) before it sends the code, authenticated with a PS256 assertion.
const tokens = await step('authorization code grant (private_key_jwt, mTLS)', async () => {
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, first);
  assert.ok(tokens.access_token, 'access_token');
  assert.ok(tokens.id_token, 'id_token');
  assert.equal(tokens.token_type?.toLowerCase(), 'bearer', 'token_type');
  const claims = tokens.claims();
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.nonce, first.expectedNonce, 'nonce');
  assert.equal(decodeJwt(tokens.id_token).header.alg, 'PS256', 'ID token alg (FAPI 1 Adv. §8.6)');
  return tokens;
});
const sub = tokens.claims().sub;

function assertCertificateBound(accessToken, label) {
  const { payload } = decodeJwt(accessToken);
  assert.equal(payload.cnf?.['x5t#S256'], expectedX5t, `${label} cnf: ${JSON.stringify(payload.cnf)}`);
}

await step('access token cnf["x5t#S256"] is the client certificate thumbprint', () => {
  assertCertificateBound(tokens.access_token, 'code grant');
});

// c. UserInfo over the mTLS connection, then without the certificate.
await step('userinfo (mTLS)', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, sub);
  assert.equal(info.sub, sub);
  assert.ok(info.email, `email in userinfo: ${JSON.stringify(info)}`);
});

await step('userinfo without the client certificate is refused (401)', async () => {
  // The same client, but on global fetch: TLS without a client certificate.
  const plain = new client.Configuration(config.serverMetadata(), CLIENT_ID, CLIENT_METADATA, clientAuth);
  const r = await refusal(client.fetchUserInfo(plain, tokens.access_token, sub));
  assert.equal(r.status, 401, r.detail);
  assert.equal(r.challenges?.[0]?.parameters.error, 'invalid_token', `RFC 8705 §3: ${r.detail}`);
});

await step('refresh token grant (mTLS, still certificate-bound)', async () => {
  assert.ok(tokens.refresh_token, 'refresh_token (offline_access)');
  const r = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(r.access_token, tokens.access_token, 'access token is new');
  assertCertificateBound(r.access_token, 'refresh grant');
});

// d. A second authorization with JARM: response_type code, the response a JWT signed by
// the provider (FAPI 1 Adv. §5.2.2-2). openid-client allows JARM or hybrid per
// Configuration, hence a second one for the same client.
const jarmConfig = new client.Configuration(config.serverMetadata(), CLIENT_ID, CLIENT_METADATA, clientAuth);
jarmConfig[client.customFetch] = mtlsFetch;
client.useJwtResponseMode(jarmConfig);

const second = newRequest();
const jarmAuthUrl = await step('signed request object by value (PS256, PKCE S256, code, response_mode jwt)', async () => {
  const url = await jarAuthorizationUrl(jarmConfig, second);
  const { payload } = decodeJwt(url.searchParams.get('request'));
  assert.equal(payload.response_type, 'code');
  assert.equal(payload.response_mode, 'jwt');
  return url;
});
const jarmCallback = await authorizeSignedIn(jarmAuthUrl, { redirectUri: REDIRECT_URI });

await step('JARM response in the query, signed PS256', () => {
  assert.deepEqual([...jarmCallback.searchParams.keys()], ['response'], jarmCallback.href);
  const { header, payload } = decodeJwt(jarmCallback.searchParams.get('response'));
  assert.equal(header.alg, 'PS256', 'JARM alg (FAPI 1 Adv. §8.6: PS256 or ES256)');
  assert.equal(payload.iss, ISSUER);
  assert.equal(payload.aud, CLIENT_ID);
  assert.equal(payload.state, second.expectedState);
});

await step('authorization code grant from the JARM response (mTLS)', async () => {
  const t = await client.authorizationCodeGrant(jarmConfig, jarmCallback, second);
  assert.equal(t.claims().sub, sub);
  assert.equal(t.claims().nonce, second.expectedNonce, 'nonce');
  assertCertificateBound(t.access_token, 'JARM code grant');
});

await agent.close();
endRun();

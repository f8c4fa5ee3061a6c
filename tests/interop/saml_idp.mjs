// A SAML 2.0 identity provider on loopback for the federated-login tests, built on samlify
// (XML-DSig by xml-crypto). It signs with the key it is given and publishes its metadata; the
// provider under test trusts that metadata and nothing else.
//
// Environment: IDP_KEY, IDP_CERT (PEM files: the key it signs with and the certificate its
// metadata publishes), OTHER_KEY, OTHER_CERT (a second pair, for responses signed by a key
// the metadata does not name). Prints `listening <port>` once it serves.
// Optional: TLS_KEY, TLS_CERT (serve HTTPS with this certificate); SSO_BINDING=post (the
// metadata offers only the HTTP-POST binding for AuthnRequests); WANT_SIGNED=1 (the metadata
// says WantAuthnRequestsSigned="true" and AuthnRequests must carry a signature that the
// registered SP metadata's signing certificate verifies, SAML Bindings 3.4.4.1 / 3.5.4).
//
//   GET  /metadata        the IdP's metadata (HTTP-Redirect SSO endpoint, or HTTP-POST)
//   GET  /metadata-fetches  how many times /metadata was served
//   POST /rotate          from now on, sign with the OTHER pair and publish its certificate
//   POST /sp              the service provider's metadata, as the operator would register it
//   GET  /sso             the HTTP-Redirect binding's AuthnRequest (POST /sso: the HTTP-POST
//                         binding's); answers the browser with the HTTP-POST binding's
//                         auto-submitting form to the SP's ACS.
//                         Test-only query parameters: `user` (the account signing in) and
//                         `variant` (a deliberately broken response, see VARIANTS).
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import samlify from 'samlify';

const { IdentityProvider, ServiceProvider, SamlLib, Constants } = samlify;

// The IdP does not schema-check the AuthnRequests it receives; the SP under test is what
// these tests check.
samlify.setSchemaValidator({ validate: async () => 'not checked by the test IdP' });

const read = (name) => fs.readFileSync(process.env[name], 'utf8');
const keys = {
  own: { key: read('IDP_KEY'), cert: read('IDP_CERT') },
  other: { key: read('OTHER_KEY'), cert: read('OTHER_CERT') },
};

const USERS = {
  alice: { email: 'alice.saml@example.test', name: 'Alice Saml' },
  bob: { email: 'bob.saml@example.test', name: 'Bob Saml' },
};

let sp = null; // the registered service provider (samlify entity)
let idp = null; // built once the port is known
let base = '';
let metadataFetches = 0;
const postBinding = process.env.SSO_BINDING === 'post';
const wantSigned = process.env.WANT_SIGNED === '1';
// ENCRYPT=1: assertions are encrypted (XML-Enc: RSA-OAEP, AES-256-GCM) to the encryption
// certificate of the registered SP metadata.
const encrypt = process.env.ENCRYPT === '1';

function identityProvider(pair) {
  return IdentityProvider({
    entityID: `${base}/metadata`,
    privateKey: pair.key,
    signingCert: pair.cert,
    wantAuthnRequestsSigned: wantSigned,
    isAssertionEncrypted: encrypt,
    dataEncryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
    keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
    nameIDFormat: [Constants.namespace.format.persistent],
    singleSignOnService: [
      {
        Binding: postBinding ? Constants.namespace.binding.post : Constants.namespace.binding.redirect,
        Location: `${base}/sso`,
      },
    ],
  });
}

// How each variant breaks the response (SAML Core / Profiles rules the SP must enforce).
const VARIANTS = {
  good: (t) => t,
  wrong_audience: (t) => ({ ...t, Audience: 'https://someone-else.example.test/sp' }),
  wrong_recipient: (t) => ({
    ...t,
    Destination: 'https://someone-else.example.test/acs',
    SubjectRecipient: 'https://someone-else.example.test/acs',
  }),
  expired: (t) => {
    const past = new Date(Date.now() - 10 * 60 * 1000).toISOString();
    const earlier = new Date(Date.now() - 20 * 60 * 1000).toISOString();
    return {
      ...t,
      IssueInstant: earlier,
      ConditionsNotBefore: earlier,
      ConditionsNotOnOrAfter: past,
      SubjectConfirmationDataNotOnOrAfter: past,
    };
  },
  wrong_in_response_to: (t) => ({ ...t, InResponseTo: '_not-a-request-of-this-sp' }),
  failed_status: (t) => ({ ...t, StatusCode: Constants.StatusCode.Requester }),
};

function templateValues(request, user) {
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
  const acs = sp.entityMeta.getAssertionConsumerService(Constants.wording.binding.post);
  const sessionIndex = idp.entitySetting.generateID();
  const attributes = [
    ['email', user.email],
    ['displayName', user.name],
  ]
    .map(
      ([name, value]) =>
        `<saml:Attribute Name="${name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` +
        `<saml:AttributeValue xsi:type="xs:string">${value}</saml:AttributeValue></saml:Attribute>`,
    )
    .join('');
  return {
    ID: idp.entitySetting.generateID(),
    AssertionID: idp.entitySetting.generateID(),
    Destination: acs,
    Audience: sp.entityMeta.getEntityID(),
    SubjectRecipient: acs,
    Issuer: idp.entityMeta.getEntityID(),
    IssueInstant: now.toISOString(),
    StatusCode: Constants.StatusCode.Success,
    ConditionsNotBefore: now.toISOString(),
    ConditionsNotOnOrAfter: later,
    SubjectConfirmationDataNotOnOrAfter: later,
    NameIDFormat: Constants.namespace.format.persistent,
    NameID: `saml-${user.key}`,
    InResponseTo: request.extract.request.id,
    // Raw XML, spliced in after the template's values (which samlify escapes) are filled.
    AuthnStatement: '',
    AttributeStatement: '',
    statements:
      `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${sessionIndex}">` +
      '<saml:AuthnContext><saml:AuthnContextClassRef>' +
      'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport' +
      '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
      `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>`,
  };
}

function render(values) {
  const filled = SamlLib.replaceTagsByValue(SamlLib.defaultLoginResponseTemplate.context, values);
  return filled.replace('</saml:Conditions>', `</saml:Conditions>${values.statements}`);
}

async function respond(request, user, variant) {
  const values = (VARIANTS[variant] ?? VARIANTS.good)(templateValues(request, user));
  if (variant === 'unsigned') {
    // No signature on the Response nor on the Assertion.
    return Buffer.from(render(values)).toString('base64');
  }
  const signer = variant === 'other_key' ? identityProvider(keys.other) : idp;
  const out = await signer.createLoginResponse(sp, request, 'post', {}, {
    customTagReplacement: () => ({
      id: values.ID,
      context: render(values),
    }),
  });
  return out.context;
}

function form(action, fields) {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const inputs = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${esc(v)}">`)
    .join('');
  return (
    '<!doctype html><html lang="en"><body onload="document.forms[0].submit()">' +
    `<form method="post" action="${esc(action)}">${inputs}<button>Continue</button></form></body></html>`
  );
}

// SAML Bindings 3.4.4.1: the signed octets are the query's own encoding, in this order.
function rawOctets(url) {
  const raw = url.search.slice(1).split('&');
  return ['SAMLRequest', 'RelayState', 'SigAlg']
    .map((name) => raw.find((p) => p.startsWith(`${name}=`)))
    .filter(Boolean)
    .join('&');
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const tls = process.env.TLS_KEY ? { key: read('TLS_KEY'), cert: read('TLS_CERT') } : null;
const handler = async (req, res) => {
  try {
    const url = new URL(req.url, base);
    if (req.method === 'GET' && url.pathname === '/metadata') {
      metadataFetches += 1;
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      return res.end(idp.getMetadata());
    }
    if (req.method === 'GET' && url.pathname === '/metadata-fetches') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(String(metadataFetches));
    }
    if (req.method === 'POST' && url.pathname === '/rotate') {
      [keys.own, keys.other] = [keys.other, keys.own];
      idp = identityProvider(keys.own);
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/sp') {
      sp = ServiceProvider({ metadata: await body(req) });
      res.writeHead(204);
      return res.end();
    }
    if (url.pathname === '/sso' && (req.method === 'GET' || req.method === 'POST')) {
      if (!sp) throw new Error('no service provider registered');
      let query = Object.fromEntries(url.searchParams);
      let request;
      if (req.method === 'POST') {
        if (!postBinding) throw new Error('this IdP takes AuthnRequests by HTTP-Redirect');
        const posted = Object.fromEntries(new URLSearchParams(await body(req)));
        query = { ...query, ...posted };
        request = await idp.parseLoginRequest(sp, 'post', { body: posted });
      } else {
        if (postBinding) throw new Error('this IdP takes AuthnRequests by HTTP-POST');
        if (wantSigned && !query.Signature) throw new Error('this IdP wants signed AuthnRequests');
        // samlify verifies the signature over the query string exactly as it came.
        request = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: rawOctets(url) });
      }
      const name = query.user ?? 'alice';
      const user = { key: name, ...USERS[name] };
      const response = await respond(request, user, query.variant ?? 'good');
      const acs = sp.entityMeta.getAssertionConsumerService(Constants.wording.binding.post);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(form(acs, { SAMLResponse: response, RelayState: query.RelayState }));
    }
    res.writeHead(404);
    res.end('not found');
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`idp error: ${e?.message ?? e}`);
  }
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);

server.listen(0, '127.0.0.1', () => {
  base = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
  idp = identityProvider(keys.own);
  console.log(`listening ${server.address().port}`);
});

#!/usr/bin/env node
// Local Sigstore (Fulcio + Rekor v1 + TSA) for reprove's keyless tests, built on Sigstore's
// own mock services (the npm package @sigstore/mock@0.12.1, which makes real certificates,
// log entries and timestamps from ephemeral keys), served over plain HTTP on 127.0.0.1.
// Started by tests/e2e/keyless.rs; `cargo xtask test` installs the npm packages.
//
//   node sigstore_mock.js --port-file F --trusted-root OUT.json [--issuer URL]
//                         [--port N] [--raw]
//
// Writes the chosen port to F (after the trusted root is written, so a poller
// may wait on F), writes a trusted root accepted by @sigstore/verify v3, and
// serves:
//   POST /api/v2/signingCert     Fulcio v2 (mock fulcioHandler)
//   POST /api/v1/log/entries     Rekor v1  (mock rekorHandler)
//   POST /api/v1/timestamp       TSA       (mock tsaHandler; JSON or DER req)
//   GET  /api/v1/log/publicKey   Rekor key, PEM         (convenience)
//   GET  /api/v2/trustBundle     Fulcio CA chain, JSON  (convenience)
//   GET  /api/v1/timestamp/certchain  TSA chain, PEM   (convenience)
//   GET  /trusted_root.json      the trusted root        (convenience)
//   GET  /mock/token?sub=..&email=..  unsigned JWT for testing (convenience)
//   GET  /github/oidc?sub=..&audience=sigstore  GitHub Actions' token endpoint (bearer
//        `request-token`), for the ambient-credential path
//
// Adaptations on top of the pure mock (all disabled with --raw, except DER
// TSA requests, which the pure mock cannot handle at all): each is described where it is
// made below. Where the pure mock differs from the real services, it is made to do what
// Fulcio, Rekor and a TSA do, never to accept more.
'use strict';

const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const mock = require('@sigstore/mock');
const pkijs = require('pkijs');
const asn1js = require('asn1js');

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0, raw: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) die(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case '--port-file': o.portFile = next(); break;
      case '--trusted-root': o.trustedRoot = next(); break;
      case '--issuer': o.issuer = next(); break;
      case '--port': o.port = Number(next()); break;
      case '--raw': o.raw = true; break;
      case '-h': case '--help':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 23).join('\n') + '\n');
        process.exit(0);
      default: die(`unknown argument: ${a}`);
    }
  }
  if (!o.portFile || !o.trustedRoot) die('--port-file and --trusted-root are required');
  return o;
}
function die(msg) { process.stderr.write(`serve.js: ${msg}\n`); process.exit(2); }
const log = (msg) => process.stderr.write(`[mock-sigstore ${new Date().toISOString()}] ${msg}\n`);

// ---------------------------------------------------------------- helpers
const b64 = (buf) => Buffer.from(buf).toString('base64');
const sha256 = (...bufs) => { const h = crypto.createHash('sha256'); bufs.forEach((b) => h.update(b)); return h.digest(); };
const genKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spkiDER = (keyObj) => keyObj.export({ format: 'der', type: 'spki' });
const DEFAULT_MOCK_ISSUER = 'https://fake.oidcissuer.com'; // hard-coded in the mock

function toPEM(der, label = 'CERTIFICATE') {
  const body = Buffer.from(der).toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}
// Re-wrap a single-line PEM (what the mock emits) into 64-column lines.
function rewrapPEM(pem) {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) return pem;
  return toPEM(Buffer.from(m[2].replace(/\s+/g, ''), 'base64'), m[1]);
}
const b64urlJSON = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
function decodeJwtPayload(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3 || !parts[1]) throw new Error('Invalid JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}
function makeUnsignedJwt(claims) {
  return `${b64urlJSON({ alg: 'none', typ: 'JWT' })}.${b64urlJSON(claims)}.`;
}
// DSSE v1 pre-authentication encoding
function pae(type, payload) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}

// ---------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));

  // Listen first: the Rekor mock bakes its host ("127.0.0.1:PORT") into the
  // checkpoint signature line, and @sigstore/verify requires that name to match
  // the tlog baseUrl in the trusted root.
  const server = http.createServer();
  await new Promise((res, rej) => { server.once('error', rej); server.listen(opts.port, opts.host, res); });
  const port = server.address().port;
  const baseURL = `http://${opts.host}:${port}`;

  // Independent P-256 keys for every service.
  const caKey = genKey(), ctKey = genKey(), tlogKey = genKey(), tsaKey = genKey();
  const ctlog = await mock.initializeCTLog(ctKey);
  const ca = await mock.initializeCA(caKey, ctlog);
  const tlog = await mock.initializeTLog(baseURL, tlogKey);
  const tsa = await mock.initializeTSA(tsaKey);

  const fulcio = mock.fulcioHandler(ca, { strict: true });
  const rekor = mock.rekorHandler(tlog, { strict: true });
  const tsaH = mock.tsaHandler(tsa, { strict: true });

  // Patch the TSTInfo the mock builds (instance method TSAImpl.tstInfo):
  //  - always: DER requests control/omit the nonce exactly (the mock only takes
  //    a JS number and always emits a nonce, defaulting to 1234567890);
  //  - unless --raw: genTime truncated to whole seconds. asn1js drops trailing
  //    zeros of the fraction (".8Z" for 800ms, DER-correct) but @sigstore/core
  //    only parses ".\d{3}Z" or no fraction -> ~10% of pure-mock timestamps fail
  //    @sigstore/verify with "invalid time";
  //  - unless --raw: positive random serialNumber (the mock's fixed 0xDEADBEEF
  //    encodes as a NEGATIVE INTEGER, -559038737).
  const origTstInfo = tsa.tstInfo.bind(tsa);
  tsa.tstInfo = (req) => {
    const t = origTstInfo(req);
    if (req.nonceDER !== undefined) {
      t.nonce = req.nonceDER === null ? undefined : new asn1js.Integer({ valueHex: req.nonceDER });
    }
    if (!opts.raw) {
      t.genTime = new Date(Math.floor(Date.now() / 1000) * 1000);
      const serial = crypto.randomBytes(8); serial[0] &= 0x7f; serial[0] |= 0x01;
      t.serialNumber = new asn1js.Integer({ valueHex: serial });
    }
    return t;
  };

  // ---- trusted root (protobuf-JSON of dev.sigstore.trustroot.v1.TrustedRoot)
  const validStart = new Date(Date.now() - 60 * 60 * 1000).toISOString(); // 1h slack
  const tlogSPKI = spkiDER(tlogKey.publicKey);
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: baseURL,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(tlogSPKI), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validStart } },
      logId: { keyId: b64(sha256(tlogSPKI)) },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: baseURL,
      certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
      validFor: { start: validStart },
    }],
    ctlogs: [{
      baseUrl: baseURL,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validStart } },
      logId: { keyId: b64(ctlog.logID) }, // = sha256(SPKI DER of the CT key)
    }],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'tsa' },
      uri: `${baseURL}/api/v1/timestamp`,
      // leaf (signing/"intermediate") first, then root
      certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
      validFor: { start: validStart },
    }],
  };
  const trustedRootJSON = JSON.stringify(trustedRoot, null, 2) + '\n';
  fs.writeFileSync(opts.trustedRoot, trustedRootJSON);

  // ---------------------------------------------------------------- Fulcio
  async function handleFulcio(body) {
    if (opts.raw) return fulcio.fn(body);
    let json;
    try { json = JSON.parse(body); } catch (e) { return { statusCode: 400, response: `invalid JSON: ${e.message}` }; }
    const token = json?.credentials?.oidcIdentityToken;
    let claims;
    try { claims = decodeJwtPayload(token); } catch (e) { return { statusCode: 401, response: `invalid identity token: ${e.message}` }; }
    log(`  fulcio: token claims ${JSON.stringify(claims)}`);
    // Issuer policy: --issuer is the only accepted issuer, and it is used when
    // the token carries no iss.
    if (opts.issuer) {
      if (claims.iss && claims.iss !== opts.issuer) {
        return { statusCode: 401, response: `unexpected token issuer ${claims.iss} (expected ${opts.issuer})` };
      }
      if (!claims.iss) {
        claims = { ...claims, iss: opts.issuer };
        const [h, , s] = token.split('.');
        json.credentials.oidcIdentityToken = `${h}.${b64urlJSON(claims)}.${s}`;
      }
    }
    // Proof of possession (real Fulcio checks it; the mock does not): a
    // signature by the submitted key over the token's `sub` (or `email`).
    if (json.publicKeyRequest) {
      const pk = json.publicKeyRequest.publicKey || {};
      let key;
      try { key = crypto.createPublicKey(pk.content); } catch (e) { return { statusCode: 400, response: `bad publicKey.content: ${e.message}` }; }
      const sig = Buffer.from(json.publicKeyRequest.proofOfPossession || '', 'base64');
      const candidates = [['sub', claims.sub], ['email', claims.email]].filter(([, v]) => typeof v === 'string');
      const hit = candidates.find(([, v]) => { try { return crypto.verify('sha256', Buffer.from(v), key, sig); } catch { return false; } });
      if (!hit) return { statusCode: 400, response: 'proofOfPossession does not verify over sub/email claim with sha256' };
      log(`  fulcio: proof of possession OK (signed over ${hit[0]})`);
    }
    const res = await fulcio.fn(JSON.stringify(json));
    if (res.statusCode === 201) {
      const r = JSON.parse(res.response);
      const chain = r.signedCertificateEmbeddedSct.chain;
      chain.certificates = chain.certificates.map(rewrapPEM);
      res.response = JSON.stringify(r);
    }
    return res;
  }

  // ---------------------------------------------------------------- Rekor
  // The mock stores canonicalize(proposedEntry) verbatim as the entry body.
  // Real Rekor rewrites a dsse v0.0.1 proposal into
  //   {envelopeHash, payloadHash, signatures:[{signature, verifier}]}
  // which is what verifiers (incl. @sigstore/verify) check; do the same.
  function canonicalDSSE(entry) {
    const pc = entry.spec.proposedContent;
    const envStr = pc.envelope;
    const env = JSON.parse(envStr);
    const payload = Buffer.from(env.payload, 'base64');
    const pre = pae(env.payloadType, payload);
    const signatures = (env.signatures || []).map((s) => {
      const verifier = (pc.verifiers || []).find((v) => {
        try {
          const key = crypto.createPublicKey(Buffer.from(v, 'base64').toString('utf8'));
          return crypto.verify('sha256', pre, key, Buffer.from(s.sig, 'base64'));
        } catch { return false; }
      });
      if (!verifier) throw new Error('dsse: signature does not verify with any supplied verifier');
      return { signature: s.sig, verifier };
    });
    return {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(envStr)).toString('hex') },
        payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
        signatures,
      },
    };
  }
  async function handleRekor(body) {
    if (opts.raw) return rekor.fn(body);
    let entry;
    try { entry = JSON.parse(body); } catch (e) { return { statusCode: 400, response: `invalid JSON: ${e.message}` }; }
    log(`  rekor: proposed ${entry.kind}/${entry.apiVersion}`);
    if (entry.kind === 'dsse' && entry.apiVersion === '0.0.1' && entry.spec?.proposedContent) {
      try { entry = canonicalDSSE(entry); } catch (e) { return { statusCode: 400, response: e.message }; }
    }
    return rekor.fn(JSON.stringify(entry));
  }

  // ---------------------------------------------------------------- TSA
  async function handleTSA(body, contentType) {
    const isJSON = /json/i.test(contentType || '') || body.toString('utf8').trimStart().startsWith('{');
    if (isJSON) return tsaH.fn(body.toString('utf8'));
    // RFC 3161 TimeStampReq (application/timestamp-query)
    try {
      const req = pkijs.TimeStampReq.fromBER(new Uint8Array(body).buffer);
      const mi = req.messageImprint;
      const nonceDER = req.nonce ? Buffer.from(req.nonce.valueBlock.valueHexView) : null;
      const tsr = {
        artifactHash: Buffer.from(mi.hashedMessage.valueBlock.valueHexView),
        hashAlgorithmOID: mi.hashAlgorithm.algorithmId,
        nonce: 0,
        nonceDER,
        policyOID: req.reqPolicy || '1.3.6.1.4.1.57264.2',
        certReq: !!req.certReq,
      };
      log(`  tsa: DER request hashAlg=${tsr.hashAlgorithmOID} nonce=${nonceDER ? nonceDER.toString('hex') : '(none)'} certReq=${tsr.certReq}`);
      const der = await tsa.timestamp(tsr);
      return { statusCode: 201, response: Buffer.from(der.buffer, der.byteOffset, der.byteLength), contentType: 'application/timestamp-reply' };
    } catch (e) {
      return { statusCode: 400, response: `bad TimeStampReq: ${e.message}` };
    }
  }

  // ---------------------------------------------------------------- routing
  const tlogPEM = toPEM(tlogSPKI, 'PUBLIC KEY');
  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, baseURL);
      const send = (status, payload, ct) => {
        const buf = Buffer.isBuffer(payload) ? payload
          : ArrayBuffer.isView(payload) ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
          : Buffer.from(String(payload));
        res.writeHead(status, { 'Content-Type': ct || 'text/plain', 'Content-Length': buf.length });
        res.end(buf);
        log(`${req.method} ${req.url} (${body.length}B ${req.headers['content-type'] || '-'}) -> ${status} ${ct || 'text/plain'} ${buf.length}B` +
          (status >= 400 ? ` ERROR: ${buf.toString('utf8').slice(0, 300)}` : ''));
      };
      const fromResult = (r) => send(r.statusCode, r.response, r.contentType);
      try {
        const route = `${req.method} ${url.pathname.replace(/\/+$/, '')}`;
        switch (route) {
          case 'POST /api/v2/signingCert': return fromResult(await handleFulcio(body.toString('utf8')));
          case 'POST /api/v1/log/entries': return fromResult(await handleRekor(body.toString('utf8')));
          case 'POST /api/v1/timestamp': return fromResult(await handleTSA(body, req.headers['content-type']));
          case 'GET /api/v1/log/publicKey': return send(200, tlogPEM, 'application/x-pem-file');
          case 'GET /api/v2/trustBundle': return send(200, JSON.stringify({ chains: [{ certificates: [toPEM(ca.rootCertificate)] }] }), 'application/json');
          case 'GET /api/v1/timestamp/certchain': return send(200, toPEM(tsa.intCertificate) + toPEM(tsa.rootCertificate), 'application/pem-certificate-chain');
          case 'GET /trusted_root.json': return send(200, trustedRootJSON, 'application/json');
          // GitHub Actions' OIDC token endpoint, as ACTIONS_ID_TOKEN_REQUEST_URL names it: the
          // request token as a bearer, the audience as a query parameter, `{"value": JWT}` back.
          case 'GET /github/oidc': {
            if (req.headers.authorization !== 'Bearer request-token') return send(401, 'bad request token');
            const audience = url.searchParams.get('audience');
            if (audience !== 'sigstore') return send(400, `audience must be sigstore, not ${audience}`);
            const now = Math.floor(Date.now() / 1000);
            const claims = { iss: opts.issuer || DEFAULT_MOCK_ISSUER, aud: audience, sub: url.searchParams.get('sub') || 'repo:mock', iat: now, exp: now + 600 };
            return send(200, JSON.stringify({ value: makeUnsignedJwt(claims) }), 'application/json');
          }
          case 'GET /mock/token': {
            const claims = { iss: opts.issuer || DEFAULT_MOCK_ISSUER, aud: 'sigstore', sub: url.searchParams.get('sub') || 'https://example.com/mock-identity',
              iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 };
            if (url.searchParams.get('email')) claims.email = url.searchParams.get('email');
            return send(200, makeUnsignedJwt(claims), 'text/plain');
          }
          default: return send(404, `not found: ${route}`);
        }
      } catch (e) {
        return send(500, `internal error: ${e.stack || e}`);
      }
    });
  });

  // Port file last, written atomically, so its presence means "ready".
  fs.writeFileSync(`${opts.portFile}.tmp`, `${port}\n`);
  fs.renameSync(`${opts.portFile}.tmp`, opts.portFile);
  log(`listening on ${baseURL} (raw=${opts.raw}, issuer=${opts.issuer || `(token iss, default ${DEFAULT_MOCK_ISSUER})`}); trusted root -> ${opts.trustedRoot}`);

  const stop = () => { log('shutting down'); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The test that started it holds stdin open; when that process dies, so does this one.
  // (Only a pipe: started by hand in the background, stdin is /dev/null and ends at once.)
  let stdinIsPipe = false;
  try { stdinIsPipe = fs.fstatSync(0).isFIFO(); } catch { /* no stdin */ }
  if (stdinIsPipe) { process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume(); }
}

main().catch((e) => { process.stderr.write(`serve.js: fatal: ${e.stack || e}\n`); process.exit(1); });

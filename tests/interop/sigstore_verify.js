// Verify a key-signed Sigstore bundle with @sigstore/verify, offline: an empty trusted root,
// the PEM key from a key finder, and no tlog/timestamp thresholds (how an offline key-signed
// bundle is meant to be checked).
//
// usage: node sigstore_verify.js BUNDLE.json PUBLIC_KEY.pem [ARTIFACT]
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, keyPath, artifactPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8'));
const trustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  certificateAuthorities: [],
  ctlogs: [],
  tlogs: [],
  timestampAuthorities: [],
};
const trust = toTrustMaterial(trustedRoot, () => ({ publicKey, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
verifier.verify(toSignedEntity(bundle, artifact));
console.log('@sigstore/verify: verified');

// Verify a keyless Sigstore bundle with @sigstore/verify against a trusted root: the
// certificate must chain to its CA with an SCT from its CT log, the Rekor entry must be
// included and signed, the time must come from a verified source, and the certificate's
// identity and issuer must be the ones given.
//
// usage: node sigstore_verify_keyless.js BUNDLE.json TRUSTED_ROOT.json SAN ISSUER [ARTIFACT]
// (SAN is matched exactly.)
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, rootPath, san, issuer, artifactPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
// toTrustMaterial wants the parsed protobuf form (bytes and dates), not the JSON strings.
const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
const verifier = new Verifier(toTrustMaterial(root), {
  tlogThreshold: 1,
  ctlogThreshold: 1,
  timestampThreshold: 1,
});
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const entity = toSignedEntity(bundle, artifactPath ? fs.readFileSync(artifactPath) : undefined);
const signer = verifier.verify(entity, {
  subjectAlternativeName: new RegExp(`^${escape(san)}$`),
  extensions: { issuer },
});
console.log(
  `@sigstore/verify: verified keyless; SAN=${signer.identity.subjectAlternativeName} issuer=${signer.identity.extensions.issuer} timestamps=${entity.timestamps.map((t) => t.$case).join(',')}`
);

// Sigstore bundles attached to OCI artifacts, from the JavaScript side.
//
//   node sigstore_oci.js attach REGISTRY REPOSITORY SUBJECT_DIGEST BUNDLE.json
//     attaches BUNDLE to the manifest SUBJECT_DIGEST with @sigstore/oci, exactly as
//     actions/attest does (bundle media type, dev.sigstore.bundle.* annotations), anonymously
//   node sigstore_oci.js discover REGISTRY REPOSITORY SUBJECT_DIGEST PUBKEY.pem...
//     finds the bundles attached to SUBJECT_DIGEST the way cosign and oras do (the referrers
//     API, else the fallback tag sha256-<hex>), reads each manifest and its one bundle layer
//     over plain HTTP, checks every digest, verifies each bundle with @sigstore/verify against
//     the given keys, and prints `verified N` and one line per bundle's predicate type
const fs = require('fs');
const crypto = require('crypto');
const { attachArtifactToImage } = require('@sigstore/oci');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const [mode, registry, repository, subject, ...rest] = process.argv.slice(2);
const base = `http://${registry}/v2/${repository}`;

function sha256(bytes) {
  return 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex');
}

async function get(url, accept, digest) {
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  if (!res.ok) {
    return { status: res.status };
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  if (digest && sha256(bytes) !== digest) {
    throw new Error(`${url}: the bytes hash to ${sha256(bytes)}, not ${digest}`);
  }
  return { status: res.status, type: res.headers.get('content-type') || '', bytes };
}

async function attach() {
  const [bundlePath] = rest;
  const artifact = fs.readFileSync(bundlePath);
  const bundle = JSON.parse(artifact.toString('utf8'));
  const payload = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
  const d = await attachArtifactToImage({
    imageName: `${registry}/${repository}`,
    imageDigest: subject,
    artifact,
    mediaType: bundle.mediaType,
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': payload.predicateType,
    },
    credentials: undefined,
  });
  console.log(`attached ${d.digest}`);
}

async function discover() {
  const keys = rest.map((p) => crypto.createPublicKey(fs.readFileSync(p, 'utf8')));
  let listing = await get(`${base}/referrers/${subject}`, INDEX);
  if (listing.status !== 200 || !listing.type.startsWith(INDEX)) {
    listing = await get(`${base}/manifests/${subject.replace(':', '-')}`, INDEX);
  }
  if (listing.status !== 200) {
    throw new Error(`no referrers of ${subject} (${listing.status})`);
  }
  const entries = JSON.parse(listing.bytes.toString('utf8')).manifests || [];
  let verified = 0;
  const kinds = [];
  for (const e of entries.filter((e) => e.artifactType === BUNDLE)) {
    const m = await get(`${base}/manifests/${e.digest}`, MANIFEST, e.digest);
    const manifest = JSON.parse(m.bytes.toString('utf8'));
    if (!manifest.subject || manifest.subject.digest !== subject) {
      throw new Error(`${e.digest} is listed as a referrer of ${subject} but names another subject`);
    }
    const layers = manifest.layers.filter((l) => l.mediaType.startsWith('application/vnd.dev.sigstore.bundle'));
    if (layers.length !== 1) {
      throw new Error(`${e.digest}: ${layers.length} bundle layers, not one`);
    }
    const blob = await get(`${base}/blobs/${layers[0].digest}`, undefined, layers[0].digest);
    const bundle = bundleFromJSON(JSON.parse(blob.bytes.toString('utf8')));
    const ok = keys.some((publicKey) => {
      const trust = toTrustMaterial(
        { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
          certificateAuthorities: [], ctlogs: [], tlogs: [], timestampAuthorities: [] },
        () => ({ publicKey, validFor: () => true }),
      );
      try {
        new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 })
          .verify(toSignedEntity(bundle));
        return true;
      } catch (_) {
        return false;
      }
    });
    if (!ok) {
      throw new Error(`${e.digest}: the bundle verifies with none of the keys`);
    }
    verified += 1;
    kinds.push(manifest.annotations['dev.sigstore.bundle.predicateType']);
  }
  console.log(`verified ${verified}`);
  for (const k of kinds.sort()) {
    console.log(k);
  }
}

(mode === 'attach' ? attach() : discover()).catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});

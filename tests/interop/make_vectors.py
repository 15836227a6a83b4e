"""Make the interop vectors with securesystemslib (and model-signing, when installed): keys,
DSSE envelopes over in-toto statements, the exact PAE bytes signed, and Sigstore bundles with
model-signing's key-hint convention. The test suite then checks that reprove reads and
verifies what these independent tools write.

usage: make_vectors.py OUT_DIR

Writes, for each of ecdsa-p256 and ed25519:
  sslib/<alg>.key.pem, sslib/<alg>.pub.pem     PKCS#8 private / SPKI public PEM
  sslib/<alg>.keyid                            securesystemslib's keyid of the public key
  sslib/{slsa,baseline}.<alg>.dsse.json        envelopes signed by securesystemslib
  sslib/{slsa,baseline}.<alg>.pae.bin          the bytes that were signed
  bundles/{slsa,baseline}.<alg>.bundle.json    the envelopes as Sigstore bundles v0.3, with
                                               publicKey.hint = hex sha256 of the PEM text
and sslib/artifact.txt, the statements' subject; and model-signing/model/ with
model-signing/model.sig.bundle.json (model-signing's `sign key` with the P-256 key).
"""
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner

out = sys.argv[1]
os.makedirs(os.path.join(out, "sslib"), exist_ok=True)
os.makedirs(os.path.join(out, "bundles"), exist_ok=True)

artifact = b"hello, interop\n"
open(os.path.join(out, "sslib", "artifact.txt"), "wb").write(artifact)
digest = hashlib.sha256(artifact).hexdigest()


def statement(predicate_type, predicate):
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact.txt", "digest": {"sha256": digest}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


statements = {
    "slsa": statement(
        "https://slsa.dev/provenance/v1",
        {
            "buildDefinition": {
                "buildType": "https://example.com/build/v1",
                "externalParameters": {"source": "git+https://example.com/x@refs/tags/v1"},
                "resolvedDependencies": [],
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    ),
    "baseline": statement(
        "https://reprove.dev/configuration-baseline/v0.1",
        {"release": {"tag": "v1", "commit": "0" * 40}},
    ),
}

for alg, generate in [("ecdsa-p256", CryptoSigner.generate_ecdsa), ("ed25519", CryptoSigner.generate_ed25519)]:
    signer = generate()
    key = signer.public_key
    public_pem = (
        serialization.load_pem_private_key(signer.private_bytes, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    open(os.path.join(out, "sslib", f"{alg}.key.pem"), "wb").write(signer.private_bytes)
    open(os.path.join(out, "sslib", f"{alg}.pub.pem"), "w").write(public_pem)
    open(os.path.join(out, "sslib", f"{alg}.keyid"), "w").write(key.keyid)
    for stem, st in statements.items():
        payload = json.dumps(st, separators=(",", ":")).encode()
        env = Envelope(payload=payload, payload_type="application/vnd.in-toto+json", signatures={})
        env.sign(signer)
        env.verify([key], 1)
        d = env.to_dict()
        json.dump(d, open(os.path.join(out, "sslib", f"{stem}.{alg}.dsse.json"), "w"))
        open(os.path.join(out, "sslib", f"{stem}.{alg}.pae.bin"), "wb").write(env.pae())
        bundle = {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "publicKey": {"hint": hashlib.sha256(public_pem.encode()).hexdigest()},
                "tlogEntries": [],
            },
            "dsseEnvelope": {
                "payload": d["payload"],
                "payloadType": d["payloadType"],
                "signatures": [{"sig": s["sig"], "keyid": s["keyid"]} for s in d["signatures"]],
            },
        }
        json.dump(bundle, open(os.path.join(out, "bundles", f"{stem}.{alg}.bundle.json"), "w"))

# model-signing is required: a missing verifier must fail the suite, not skip a vector.
import model_signing  # noqa: E402

model = os.path.join(out, "model-signing", "model")
os.makedirs(model, exist_ok=True)
open(os.path.join(model, "config.json"), "w").write('{"layers": 2}\n')
open(os.path.join(model, "weights.bin"), "wb").write(bytes(range(256)) * 16)
model_signing.signing.Config().use_elliptic_key_signer(
    private_key=os.path.join(out, "sslib", "ecdsa-p256.key.pem")
).sign(model, os.path.join(out, "model-signing", "model.sig.bundle.json"))

print("vectors written to", out)

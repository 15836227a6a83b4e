"""Verify a DSSE envelope (bare, or inside a Sigstore bundle) with securesystemslib.

usage: sslib_verify.py ENVELOPE_OR_BUNDLE.json PUBLIC_KEY.pem

The key's keyid is securesystemslib's own default, so this also proves reprove writes the
keyid in-toto tooling looks for.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

doc = json.load(open(sys.argv[1]))
envelope = doc.get("dsseEnvelope", doc)
key = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[2], "rb").read()))
Envelope.from_dict(envelope).verify([key], 1)
print("securesystemslib: verified with keyid", key.keyid)

"""Validate an in-toto Statement v1 (and a SLSA provenance v1 predicate) with
in-toto-attestation, parsing strictly: unknown fields are errors.

usage: attestation_validate.py STATEMENT_OR_ENVELOPE_OR_BUNDLE.json
"""
import base64
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

doc = json.load(open(sys.argv[1]))
envelope = doc.get("dsseEnvelope", doc)
if "payload" in envelope:
    text = base64.b64decode(envelope["payload"]).decode()
else:
    text = json.dumps(doc)
pb = json_format.Parse(text, statement_pb2.Statement())
Statement.copy_from_pb(pb).validate()
stmt = json.loads(text)
if stmt["predicateType"] == "https://slsa.dev/provenance/v1":
    json_format.Parse(json.dumps(stmt["predicate"]), provenance_pb2.Provenance())
    print("in-toto-attestation: valid Statement v1 with SLSA provenance v1")
else:
    print("in-toto-attestation: valid Statement v1,", stmt["predicateType"])

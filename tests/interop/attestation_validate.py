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
from in_toto_attestation.predicates.vsa.v1 import vsa_pb2

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
elif stmt["predicateType"] == "https://slsa.dev/verification_summary/v1":
    predicate = dict(stmt["predicate"])
    # The SLSA spec makes verifiedLevels an array; in-toto-attestation's proto still has a
    # single string (in-toto/attestation#425, fixed by #429). Check everything else strictly.
    levels = predicate["verifiedLevels"]
    assert isinstance(levels, list) and all(isinstance(x, str) for x in levels), levels
    if vsa_pb2.VerificationSummary.DESCRIPTOR.fields_by_name["verified_levels"].is_repeated is False:
        predicate["verifiedLevels"] = ",".join(levels)
    # The spec's verifier.version (a map of component to version) is missing from the proto too.
    verifier = dict(predicate["verifier"])
    version = verifier.pop("version", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in version.items()), version
    if "version" not in vsa_pb2.VerificationSummary.Verifier.DESCRIPTOR.fields_by_name:
        predicate["verifier"] = verifier
    json_format.Parse(json.dumps(predicate), vsa_pb2.VerificationSummary())
    print("in-toto-attestation: valid Statement v1 with SLSA verification summary v1")
else:
    print("in-toto-attestation: valid Statement v1,", stmt["predicateType"])

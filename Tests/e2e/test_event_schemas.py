"""Every event the domain tests produced validates against schemas/ (envelope + the type's data schema).

The Swift domain tests (Tests/OrgDomainTests: the lifecycle scenario and the random property runs) write
their events as canonical envelopes to $ORGLEDGER_SAMPLES_DIR (scripts/test sets it); this file checks
them with Python's jsonschema, independently of the Swift code that made them.
"""
import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("ORGLEDGER_SAMPLES_DIR", ROOT / ".build" / "event-samples"))
SCHEMAS = ROOT / "schemas"


def load_samples():
    files = sorted(SAMPLES.glob("*.ndjson"))
    assert files, f"no event samples in {SAMPLES}: run the Swift tests first (scripts/test does)"
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def samples():
    return load_samples()


@pytest.fixture(scope="module")
def validators():
    envelope = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "envelope.schema.json").read_text()))
    per_type = {}
    for path in (SCHEMAS / "events").glob("*.schema.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        per_type[path.name.removesuffix(".schema.json")] = jsonschema.Draft202012Validator(schema)
    return envelope, per_type


def test_every_event_validates(samples, validators):
    envelope, per_type = validators
    for event in samples:
        envelope.validate(event)
        assert event["type"] in per_type, f"no schema for {event['type']}"
        per_type[event["type"]].validate(event["data"])


def test_every_type_has_a_sample_and_a_schema(samples, validators):
    _, per_type = validators
    seen = {event["type"] for event in samples}
    assert seen == set(per_type), f"types without samples: {set(per_type) - seen}; without schema: {seen - set(per_type)}"
    assert len(per_type) == 30


def test_schemas_are_strict(samples, validators):
    _, per_type = validators
    event = next(e for e in samples if e["type"] == "member.joined")
    extra = copy.deepcopy(event["data"]) | {"surprise": 1}
    with pytest.raises(jsonschema.ValidationError):
        per_type["member.joined"].validate(extra)
    bad_role = copy.deepcopy(event["data"]) | {"role": "emperor"}
    with pytest.raises(jsonschema.ValidationError):
        per_type["member.joined"].validate(bad_role)
    invite = next(e for e in samples if e["type"] == "invitation.sent")
    with pytest.raises(jsonschema.ValidationError):
        per_type["invitation.sent"].validate(invite["data"] | {"role": "owner"})

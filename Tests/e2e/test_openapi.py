"""schemas/openapi.yaml is valid OpenAPI 3.1 and names exactly the routes the server registers, and the
service's answers fit the document's schemas."""
import subprocess

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from service import BIN, ROOT, Service

DOC = yaml.safe_load((ROOT / "schemas" / "openapi.yaml").read_text())
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_the_document_is_valid_openapi():
    validate(DOC)


def test_documented_routes_equal_registered_routes():
    registered = set(subprocess.run([str(BIN / "orgledger"), "routes"], capture_output=True, text=True, check=True).stdout.split("\n")) - {""}
    documented = {f"{method.upper()} {path}" for path, item in DOC["paths"].items() for method in item if method in METHODS}
    assert registered - documented == set(), "routes the server registers but the document lacks"
    assert documented - registered == set(), "routes the document names but the server lacks"


def schema(name):
    """A component schema with the document's components, for jsonschema."""
    return {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("openapi")).wait_ready()
    yield service
    service.stop()


def test_answers_fit_the_documented_schemas(svc):
    owner = "owner@example.com"
    check = lambda reply, name: jsonschema.validate(reply.json, schema(name))
    check(svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=owner), "Org")
    check(svc.request("GET", "/v1/orgs", actor=owner), "OrgList")
    sent = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["ada@example.com"], "role": "member"}, actor=owner)
    check(sent, "InvitationList")
    check(svc.request("POST", f"/v1/invitations/{sent.json['invitations'][0]['id']}/accept", actor="ada@example.com"), "InvitationAnswer")
    check(svc.request("GET", "/v1/orgs/acme/members", actor=owner), "MemberPage")
    check(svc.request("GET", "/v1/orgs/acme/members/ada@example.com", actor=owner), "Member")
    key = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "ci", "role": "viewer"}, actor=owner)
    check(key, "CreatedAPIKey")
    check(svc.request("GET", "/v1/orgs/acme/api-keys", actor=owner), "APIKeyList")
    check(svc.request("POST", "/v1/auth/verify", {"secret": key.json["secret"]}), "Verified")
    check(svc.request("POST", "/v1/orgs/acme/auth/reset", actor=owner), "AuthReset")
    check(svc.request("GET", "/v1/orgs/acme/audit", actor=owner), "AuditPage")
    check(svc.request("GET", "/v1/health"), "Health")
    check(svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "nope"}, actor=owner), "Problem")

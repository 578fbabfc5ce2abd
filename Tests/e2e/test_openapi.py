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
    # OpenAPI has no parameter spanning several segments: the tiles' catch-all is documented as {tile}.
    registered = {route.replace("/v1/log/tile/**", "/v1/log/tile/{tile}") for route in registered}
    documented = {f"{method.upper()} {path}" for path, item in DOC["paths"].items() for method in item if method in METHODS}
    assert registered - documented == set(), "routes the server registers but the document lacks"
    assert documented - registered == set(), "routes the document names but the server lacks"


def schema(name):
    """A component schema with the document's components, for jsonschema."""
    return {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}


def problem(status):
    """The problem document a status answers with (components/responses/E<status>)."""
    return {**DOC["components"]["responses"][f"E{status}"]["content"]["application/problem+json"]["schema"],
            "components": DOC["components"]}


def test_every_operation_documents_the_statuses_it_can_answer():
    """Every route can answer 400 (a bad header) and 421 (the TCP listener's Host check); every command 412
    (If-Match), 422 (Idempotency-Key) and 507 (a full disk); every {org} route 308 and 404; every JSON body
    413 and 415. Every problem response names its status."""
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in operation.get("parameters", [])}
            assert {"400", "421"} <= codes, (method, path)
            if "IfMatch" in names:
                assert {"412", "422", "507"} <= codes, (method, path)
            if "Org" in names:
                assert {"308", "404"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= codes, (method, path)
    for name, response in DOC["components"]["responses"].items():
        if name.startswith("Scim"):  # /scim/v2 answers RFC 7644 error documents (status as a string)
            assert response["content"]["application/scim+json"]["schema"] == {"$ref": "#/components/schemas/ScimError"}, name
            continue
        status = response["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["status"]["const"]
        assert name.startswith(f"E{status}"), name


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
    svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["bob@example.com", "cy@example.com"], "role": "viewer"}, actor=owner)
    for path, name in [("/v1/orgs/acme/invitations?limit=1", "InvitationPage"), ("/v1/orgs/acme/members?limit=1", "MemberPage"),
                       ("/v1/orgs/acme/audit?limit=1", "AuditPage")]:
        page = svc.request("GET", path, actor=owner)
        check(page, name)
        assert page.json["next_cursor"] is not None and page.header("Link").endswith('; rel="next"'), page
    jsonschema.validate(svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "nope"}, actor=owner).json, problem(400))
    jsonschema.validate(svc.request("GET", "/v1/orgs/nobody-here", actor=owner).json, problem(404))
    jsonschema.validate(svc.request("GET", "/v1/orgs/acme").json, problem(401))
    wrong_method = svc.request("PUT", "/v1/health")
    jsonschema.validate(wrong_method.json, problem(405))
    assert wrong_method.header("Allow") == "GET"

"""SCIM 2.0 provisioning (issue #13; product spec section 10), against the real binary.

Two independent conformance testers from PyPI (scim2-tester over the socket and the loopback listener,
scim-sanity in strict mode over the loopback listener), the Okta and Entra ID sequences with the audit
trail each leaves checked event by event, the groups as fixed roles, and the refusals an attacker or a
misconfigured identity provider meets: the last owner, keys that may not provision, keys that do not verify.
"""
import json
import socket
import subprocess

import jsonschema
import pytest

from service import BIN, OWNER, Service, create, importing, reading, stored_bytes
from test_offline_commands import ROOT, rechain

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, input=None):
    return subprocess.run([str(BIN / "orgledger"), *args], capture_output=True, text=True, input=input, timeout=120)


class SCIM:
    """One org on a running service and an API key of `role` made by its owner; SCIM requests over the socket."""

    def __init__(self, svc, role="admin", handle="acme", owner=OWNER):
        self.svc = svc
        self.org = create(svc, handle, actor=owner)
        made = svc.request("POST", f"/v1/orgs/{handle}/api-keys", {"name": "idp", "role": role}, actor=owner)
        assert made.status == 201, made
        self.key, self.key_id, self.owner = made.json["secret"], made.json["id"], owner

    @classmethod
    def existing(cls, svc, key):
        """A client of a key made before (e.g. in the ledger an import moved)."""
        client = cls.__new__(cls)
        client.svc, client.key = svc, key
        return client

    def request(self, method, path, body=None, key=None, headers=None, content_type="application/scim+json"):
        all_headers = {"Authorization": f"Bearer {key or self.key}", **(headers or {})}
        return self.svc.request(method, "/scim/v2" + path, body, headers=all_headers, content_type=content_type)

    def ok(self, reply, status=200):
        assert reply.status == status, reply
        assert reply.header("content-type") == "application/scim+json", reply
        return reply.json if reply.body else None

    def seq(self):
        return self.svc.request("GET", "/v1/health").json["head_seq"]

    def events_after(self, seq):
        body = self.svc.request("GET", f"/v1/events?after={seq}&limit=1000").body
        return [json.loads(line) for line in body.splitlines()]


def scim_error(reply, status, scim_type=None):
    """Asserts an RFC 7644 error document: exactly the Error schema, status as a string."""
    assert reply.status == status, reply
    assert reply.header("content-type") == "application/scim+json", reply
    doc = reply.json
    assert doc["schemas"] == [ERROR] and doc["status"] == str(status) and doc["detail"], doc
    assert doc.get("scimType") == scim_type, doc
    return doc


def user_body(user_name, email=None, **extra):
    body = {"schemas": [USER], "userName": user_name, "active": True}
    if email:
        body["emails"] = [{"value": email, "type": "work", "primary": True}]
    body.update(extra)
    return body


@pytest.fixture
def scim(tmp_path):
    svc = Service(tmp_path, extra=("--listen", f"127.0.0.1:{free_port()}")).wait_ready()
    yield SCIM(svc)
    svc.stop()


def port_of(svc):
    args = svc.process.args
    return int(args[args.index("--listen") + 1].rsplit(":", 1)[1])


# --- The conformance testers ----------------------------------------------------------------------------


def scim2_tester_results(base_url, key, uds=None):
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    transport = httpx2.HTTPTransport(uds=uds) if uds else None
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, transport=transport, timeout=30)
    # Users only: every Group check of scim2-tester 0.5.2 begins by creating a group, and the groups are
    # the org's fixed roles (POST /Groups is 403 by product spec section 10). test_groups covers them.
    return check_server(SyncSCIMClient(http), resource_types=["User"])


@pytest.mark.parametrize("over", ["socket", "loopback"])
def test_scim2_tester_passes_every_discovery_and_user_check(scim, over):
    from scim2_tester import Status

    if over == "socket":
        results = scim2_tester_results("http://localhost/scim/v2", scim.key, uds=scim.svc.sock)
    else:
        results = scim2_tester_results(f"http://127.0.0.1:{port_of(scim.svc)}/scim/v2", scim.key)
    failed = [(r.title, r.status.name, r.reason) for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert not failed, failed
    passed = {r.title for r in results if r.status == Status.SUCCESS}
    # Not a vacuous pass: discovery, and each CRUD and PATCH check of a User, ran and passed.
    for check in ("service_provider_config_endpoint", "query_all_resource_types", "query_all_schemas", "object_creation", "object_query",
                  "object_query_without_id", "object_replacement", "object_deletion", "check_add_attribute", "check_remove_attribute",
                  "check_replace_attribute", "object_list_with_attributes", "random_url"):
        assert check in passed, (check, sorted(passed))
    # The one skipped check is the root POST /.search, answered 501 as RFC 7644 allows.
    assert [r.title for r in results if r.status == Status.SKIPPED] == ["search_with_attributes"]
    assert sum(r.status == Status.SUCCESS for r in results) >= 40  # one result per check and attribute


def test_scim_sanity_passes_in_strict_mode(scim, monkeypatch):
    from scim_sanity.probe.runner import run_probe_api

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # --resource User: its Group lifecycle begins with POST /Groups, which the fixed roles refuse (403).
    # No check needs --compat.
    report = run_probe_api(f"http://127.0.0.1:{port_of(scim.svc)}/scim/v2", token=scim.key, resource_filter="User", strict=True)
    failed = [r for r in report["results"] if str(r.get("status", "")).upper() in ("FAIL", "ERROR")]
    assert report["exit_code"] == 0 and not failed, failed
    assert report["summary"]["passed"] >= 18, report["summary"]


# --- The identity providers' sequences ------------------------------------------------------------------


def test_okta_sequence_and_its_audit_trail(scim):
    start = scim.seq()
    email = "jane.doe@example.com"
    # Okta looks the user up by userName first, then creates them.
    found = scim.ok(scim.request("GET", '/Users?filter=userName%20eq%20%22jane.doe%40example.com%22&startIndex=1&count=100'))
    assert found["totalResults"] == 0 and found["Resources"] == []
    body = user_body(email, email, name={"givenName": "Jane", "familyName": "Doe"}, displayName="Jane Doe", externalId="00u1abcd")
    created = scim.request("POST", "/Users", body)
    user = scim.ok(created, 201)
    assert created.header("location") == user["meta"]["location"] and created.header("etag") == user["meta"]["version"]
    assert user["active"] is True and user["userName"] == email and user["emails"][0]["value"] == email
    assert user["groups"][0]["value"] == "member" and user["name"] == {"givenName": "Jane", "familyName": "Doe"}
    uid = user["id"]
    # The member is there for the REST API too, role member.
    rest = scim.svc.request("GET", f"/v1/orgs/acme/members/{email}", actor=OWNER)
    assert rest.status == 200 and rest.json["role"] == "member" and rest.json["status"] == "active"
    again = scim.ok(scim.request("GET", '/Users?filter=userName%20eq%20%22JANE.DOE%40example.com%22'))
    assert [u["id"] for u in again["Resources"]] == [uid], "userName compares case-insensitively"
    # Okta deactivates with a path-less replace, then reactivates.
    off = scim.ok(scim.request("PATCH", f"/Users/{uid}", {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}))
    assert off["active"] is False
    assert scim.svc.request("GET", f"/v1/orgs/acme/members/{email}", actor=OWNER).json["status"] == "suspended"
    on = scim.ok(scim.request("PATCH", f"/Users/{uid}", {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}))
    assert on["active"] is True
    # The audit trail, event by event: each by the key's creator, via scim, naming the key.
    events = scim.events_after(start)
    owner_id = scim.svc.request("GET", "/v1/me", actor=OWNER).json["user"]["id"]
    assert [(e["stream"], e["type"]) for e in events] == [
        (uid, "user.created"), (scim.org["id"], "member.joined"), (scim.org["id"], "member.directory_updated"),
        (scim.org["id"], "member.suspended"), (scim.org["id"], "member.reinstated"),
    ]
    for e in events:
        assert e["actor"] == owner_id and e["meta"]["via"] == "scim" and e["meta"]["api_key_id"] == scim.key_id, e
    assert events[1]["data"] == {"user_id": uid, "role": "member", "invited_by": owner_id, "invitation_id": None}
    assert events[2]["data"]["user_id"] == uid and set(events[2]["data"]) == {"user_id", "user_name", "external_id", "display_name", "name"}
    audit = scim.svc.pages("/v1/orgs/acme/audit", "events", actor=OWNER)
    assert [(e["action"], e["target"]) for e in audit[:4]] == [
        ("member.reinstated", email), ("member.suspended", email), ("member.directory_updated", email), ("member.joined", email),
    ]
    assert all(e["actor"] == OWNER and e["meta"]["via"] == "scim" for e in audit[:4])
    # No personal value of the directory profile is in the log.
    log = scim.svc.request("GET", "/v1/events?limit=1000").body
    for value in (b"Jane Doe", b"00u1abcd", b"Jane", b"jane.doe"):
        assert value not in log, value


def test_entra_sequence_and_its_audit_trail(scim):
    start = scim.seq()
    upn = "alex@contoso.example"
    body = {
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], "externalId": "a1b2c3", "userName": upn, "active": True,
        "displayName": "Alex Wilber", "emails": [{"primary": True, "type": "work", "value": upn}],
        "name": {"formatted": "Alex Wilber", "familyName": "Wilber", "givenName": "Alex"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
    }
    user = scim.ok(scim.request("POST", "/Users", body, content_type="application/json"), 201)
    uid = user["id"]
    # Entra: capitalised ops, "False" as a string, several operations in one request.
    disabled = scim.ok(scim.request("PATCH", f"/Users/{uid}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "displayName", "value": "Alex W."},
    ]}, content_type="application/json"))
    assert disabled["active"] is False and disabled["displayName"] == "Alex W."
    assert scim.svc.request("GET", f"/v1/orgs/acme/members/{upn}", actor=OWNER).json["status"] == "suspended"
    deleted = scim.request("DELETE", f"/Users/{uid}")
    assert deleted.status == 204 and deleted.body == b""
    scim_error(scim.request("GET", f"/Users/{uid}"), 404)
    assert scim.svc.request("GET", f"/v1/orgs/acme/members/{upn}", actor=OWNER).status == 404
    events = scim.events_after(start)
    org = scim.org["id"]
    assert [(e["stream"], e["type"]) for e in events] == [
        (uid, "user.created"), (org, "member.joined"), (org, "member.directory_updated"),
        (org, "member.directory_updated"), (org, "member.suspended"), (org, "member.removed"),
    ]
    assert events[-1]["data"] == {"user_id": uid, "role": "member", "reason": "removed"}
    assert all(e["meta"]["via"] == "scim" and e["meta"]["api_key_id"] == scim.key_id for e in events)
    # Re-provisioned later: a new membership, a fresh profile.
    back = scim.ok(scim.request("POST", "/Users", body), 201)
    assert back["id"] == uid and back["active"] is True and back["displayName"] == "Alex Wilber"


# --- Rules and refusals ---------------------------------------------------------------------------------


def test_the_last_owner_stays_in_scim_error_form(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        scim = SCIM(svc, role="owner")
        owner = scim.ok(scim.request("GET", "/Users?filter=userName%20eq%20%22owner%40example.com%22"))["Resources"][0]
        before = scim.seq()
        scim_error(scim.request("DELETE", f"/Users/{owner['id']}"), 409)
        scim_error(scim.request("PATCH", f"/Users/{owner['id']}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}), 409)
        demote = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{owner["id"]}"]'}]}
        assert scim_error(scim.request("PATCH", "/Groups/owner", demote), 409)["detail"].startswith("cannot demote the last active owner")
        assert scim.seq() == before, "a refusal writes nothing"
    finally:
        svc.stop()


def test_keys_that_may_not_provision(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        scim = SCIM(svc)
        body = user_body("x@example.com", "x@example.com")
        moderator = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "mod", "role": "moderator"}, actor=OWNER).json["secret"]
        scim_error(scim.request("POST", "/Users", body, key=moderator), 403)
        scim_error(scim.request("GET", "/Users", key=moderator), 403)
        missing = svc.request("GET", "/scim/v2/Users")
        scim_error(missing, 401)
        assert missing.header("www-authenticate").startswith("Bearer")
        scim_error(scim.request("GET", "/Users", key="olk_not_a_key"), 401)
        scim_error(svc.request("GET", "/scim/v2/Users", headers={"Authorization": f"Basic {scim.key}"}), 401)
        # Revoked: 401. Void (auth reset): 401.
        assert svc.request("DELETE", f"/v1/orgs/acme/api-keys/{scim.key_id}", actor=OWNER).status == 200
        scim_error(scim.request("POST", "/Users", body), 401)
        other = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "idp2", "role": "owner"}, actor=OWNER).json["secret"]
        assert scim.request("GET", "/Users", key=other).status == 200
        assert svc.request("POST", "/v1/orgs/acme/auth/reset", actor=OWNER).status == 200
        scim_error(scim.request("GET", "/Users", key=other), 401)
        assert svc.request("GET", "/v1/orgs/acme/members/x@example.com", actor=OWNER).status == 404
    finally:
        svc.stop()


def test_groups_are_the_fixed_roles(scim):
    groups = scim.ok(scim.request("GET", "/Groups"))
    assert groups["totalResults"] == 6 and {g["id"] for g in groups["Resources"]} == {"owner", "admin", "moderator", "billing_manager", "member", "viewer"}
    scim_error(scim.request("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x"}), 403)
    scim_error(scim.request("DELETE", "/Groups/admin"), 403)
    scim_error(scim.request("GET", "/Groups/wizards"), 404)
    uid = scim.ok(scim.request("POST", "/Users", user_body("sam@example.com", "sam@example.com")), 201)["id"]
    add = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]}
    moderators = scim.ok(scim.request("PATCH", "/Groups/moderator", add))
    assert [m["value"] for m in moderators["members"]] == [uid]
    assert scim.svc.request("GET", "/v1/orgs/acme/members/sam@example.com", actor=OWNER).json["role"] == "moderator"
    assert scim.ok(scim.request("GET", f"/Users/{uid}"))["groups"][0]["value"] == "moderator"
    filtered = scim.ok(scim.request("GET", '/Groups?filter=displayName%20eq%20%22moderator%22&excludedAttributes=members'))
    assert [g["id"] for g in filtered["Resources"]] == ["moderator"] and "members" not in filtered["Resources"][0]
    # An admin key may not make anyone an owner or an admin (the matrix, for the key's role).
    scim_error(scim.request("PATCH", "/Groups/owner", add), 403)
    remove = {"schemas": [PATCH], "Operations": [{"op": "Remove", "path": f'members[value eq "{uid}"]'}]}
    assert scim.ok(scim.request("PATCH", "/Groups/moderator", remove)).get("members", []) == []
    assert scim.svc.request("GET", "/v1/orgs/acme/members/sam@example.com", actor=OWNER).json["role"] == "member"
    scim_error(scim.request("PATCH", "/Groups/member", remove), 400, "mutability")


def test_filters_paging_uniqueness_and_etags(scim):
    ids = [scim.ok(scim.request("POST", "/Users", user_body(f"user{i}", f"user{i}@example.com", externalId=f"ext{i}")), 201)["id"] for i in range(5)]
    everyone = scim.ok(scim.request("GET", "/Users?count=1000"))
    assert everyone["totalResults"] == 6  # and the owner, whose userName is their email
    seen = []
    for start in (1, 3, 5):
        page = scim.ok(scim.request("GET", f"/Users?startIndex={start}&count=2"))
        assert page["totalResults"] == 6 and page["startIndex"] == start and page["itemsPerPage"] == len(page["Resources"])
        seen += [u["id"] for u in page["Resources"]]
    assert sorted(seen) == sorted(u["id"] for u in everyone["Resources"]) and len(set(seen)) == 6
    zero = scim.ok(scim.request("GET", "/Users?count=0"))
    assert zero["totalResults"] == 6 and zero["Resources"] == []
    by_email = scim.ok(scim.request("GET", '/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22user3%40example.com%22'))
    assert [u["id"] for u in by_email["Resources"]] == [ids[3]]
    both = scim.ok(scim.request("GET", '/Users?filter=(externalId%20eq%20%22ext2%22)%20and%20userName%20eq%20%22USER2%22'))
    assert [u["id"] for u in both["Resources"]] == [ids[2]]
    assert scim.ok(scim.request("GET", '/Users?filter=externalId%20eq%20%22ext2%22%20and%20userName%20eq%20%22user3%22'))["totalResults"] == 0
    scim_error(scim.request("GET", '/Users?filter=userName%20eq%20%22a%22%20or%20userName%20eq%20%22b%22'), 400, "invalidFilter")
    scim_error(scim.request("GET", '/Users?filter=title%20eq%20%22x%22'), 400, "invalidFilter")
    scim_error(scim.request("GET", '/Users?filter=userName%20co%20%22x%22'), 400, "invalidFilter")
    scim_error(scim.request("GET", '/Users?filter=userName%20eq%20%22unclosed'), 400, "invalidFilter")
    selected = scim.ok(scim.request("GET", f"/Users/{ids[0]}?attributes=externalId"))
    assert set(selected) == {"schemas", "id", "externalId"}
    # Uniqueness: another email with a taken userName, or an existing member with other values: 409.
    scim_error(scim.request("POST", "/Users", user_body("USER1", "other@example.com")), 409, "uniqueness")
    scim_error(scim.request("POST", "/Users", user_body("someone-else", "user1@example.com")), 409, "uniqueness")
    # Re-sending what is held: 200, nothing written.
    before = scim.seq()
    same = scim.request("POST", "/Users", user_body("user1", "user1@example.com", externalId="ext1"))
    assert same.status == 200 and same.json["id"] == ids[1] and scim.seq() == before
    # ETags: a stale If-Match is 412 and writes nothing; the current one is taken.
    held = scim.request("GET", f"/Users/{ids[1]}")
    etag = held.header("etag")
    assert etag == held.json["meta"]["version"] and etag.startswith('W/"')
    changed = scim.request("PUT", f"/Users/{ids[1]}", {**user_body("user1", "user1@example.com"), "displayName": "One"}, headers={"If-Match": etag})
    assert scim.ok(changed)["displayName"] == "One" and changed.header("etag") != etag
    scim_error(scim.request("PUT", f"/Users/{ids[1]}", user_body("user1", "user1@example.com"), headers={"If-Match": etag}), 412)
    # userName is immutable; emails cannot be changed through SCIM.
    scim_error(scim.request("PUT", f"/Users/{ids[1]}", user_body("renamed", "user1@example.com")), 400, "mutability")
    scim_error(scim.request("PATCH", f"/Users/{ids[1]}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]}), 400, "mutability")
    # Hostile input: no email at all, a bidi control, a huge value; none reaches the log.
    scim_error(scim.request("POST", "/Users", user_body("no-email-here")), 400, "invalidValue")
    scim_error(scim.request("POST", "/Users", user_body("evil\u202euser", "evil@example.com")), 400, "invalidValue")
    scim_error(scim.request("POST", "/Users", user_body("big", "big@example.com", displayName="x" * 5000)), 400, "invalidValue")
    scim_error(scim.request("POST", "/Users", {"schemas": [USER], "userName": 7}), 400, "invalidValue")
    scim_error(scim.request("PATCH", f"/Users/{ids[1]}", {"schemas": [PATCH], "Operations": [{"op": "move", "path": "active"}]}), 400, "invalidSyntax")
    malformed = scim.svc.request("POST", "/scim/v2/Users", raw=b"{", headers={"Authorization": f"Bearer {scim.key}"}, content_type="application/scim+json")
    scim_error(malformed, 400, "invalidSyntax")
    scim_error(scim.request("PUT", "/ServiceProviderConfig", {}), 405)
    scim_error(scim.request("GET", "/Nothing"), 404)


def test_directory_values_move_with_export_and_import(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        scim = SCIM(svc)
        uid = scim.ok(scim.request("POST", "/Users", user_body("Kim.Lee", "kim@example.com", externalId="k-1", displayName="Kim")), 201)["id"]
        scim.ok(scim.request("PATCH", f"/Users/{uid}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "name.givenName", "value": "Kim"}]}))
    finally:
        svc.stop()
    disclosure = tmp_path / "disclosure.ndjson"
    exported = run("export", *reading(svc.data), "--disclose", str(disclosure))
    assert exported.returncode == 0, exported.stderr
    # Every SCIM event, meta.via and meta.api_key_id included, is what schemas/ promises.
    envelope = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "envelope.schema.json").read_text()))
    scim_events = [json.loads(line) for line in exported.stdout.splitlines() if '"via":"scim"' in line]
    assert {e["type"] for e in scim_events} == {"user.created", "member.joined", "member.directory_updated"}
    for event in scim_events:
        envelope.validate(event)
        data_schema = json.loads((ROOT / "schemas" / "events" / f"{event['type']}.schema.json").read_text())
        jsonschema.Draft202012Validator(data_schema).validate(event["data"])
    moved = tmp_path / "moved"
    imported = run("import", *importing(moved, svc.data / "instance.key"), "--disclosure", str(disclosure), input=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert run("verify", *reading(moved)).returncode == 0
    (tmp_path / "again").mkdir()
    again = Service(tmp_path / "again", data=moved).wait_ready()
    try:
        key = SCIM.existing(again, scim.key)
        found = key.ok(key.request("GET", '/Users?filter=userName%20eq%20%22kim.lee%22'))["Resources"]
        assert [(u["id"], u["externalId"], u["displayName"], u["name"]) for u in found] == [(uid, "k-1", "Kim", {"givenName": "Kim"})]
        scim_error(key.request("POST", "/Users", user_body("KIM.LEE", "other@example.com")), 409, "uniqueness")
    finally:
        again.stop()
    # A forged SCIM provision, its chain fully re-hashed, does not import: a key id of no shape, a key the
    # org never had.
    for forged_id, why in (("not-a-key", "api_key_id"), ("key_" + "0" * 26, "does not verify")):
        forged = [json.loads(line) for line in exported.stdout.splitlines()]
        for event in forged:
            if event["meta"].get("via") == "scim":
                event["meta"]["api_key_id"] = forged_id
        refused = run("import", "--data", str(tmp_path / f"forged-{why[:4]}"), input=rechain(forged))
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr


def test_an_erasure_drops_the_directory_values(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        scim = SCIM(svc)
        scim.ok(scim.request("POST", "/Users", user_body("Pat.Q", "pat@example.com", externalId="pat-ext-77", displayName="Pat Quinn")), 201)
        assert svc.request("POST", "/v1/me/deletion", {"confirm": "pat@example.com"}, actor="pat@example.com").status == 202
    finally:
        svc.stop()
    later = Service(tmp_path, faketime="+31d").wait_ready()  # the purge runs at start-up
    try:
        client = SCIM.existing(later, scim.key)
        assert client.ok(client.request("GET", '/Users?filter=userName%20eq%20%22pat.q%22'))["totalResults"] == 0
        assert client.ok(client.request("GET", '/Users?filter=externalId%20eq%20%22pat-ext-77%22'))["totalResults"] == 0
        # The userName is free again in the org.
        client.ok(client.request("POST", "/Users", user_body("pat.q", "new.pat@example.com")), 201)
    finally:
        later.stop()
    everything = stored_bytes(later.data, compacted=True)
    for value in (b"Pat Quinn", b"pat-ext-77", b"Pat.Q"):
        assert value not in everything, value
    assert run("verify", *reading(later.data)).returncode == 0


def test_what_a_hostile_or_careless_client_sends(scim):
    """The review's attacks: nesting, lookalike userNames, names another member shows, huge group
    requests, attributes left out of a PUT, and an active-only change to a member the directory keeps
    nothing about."""
    svc = scim.svc
    # A filter nested thousands deep is refused, not recursed into.
    deep = "(" * 4000 + 'userName eq "a"' + ")" * 4000
    scim_error(scim.request("GET", "/Users?filter=" + deep.replace(" ", "%20").replace('"', "%22")), 400, "invalidFilter")
    # userName is an identifier: no white space or invisible scalar.
    for bad in ("bob ", "bob\u200b", "bo b", "\u00a0bob"):
        scim_error(scim.request("POST", "/Users", user_body(bad, "bob@example.com")), 400, "invalidValue")
    # A member invited through the REST API shows their email as userName: no one else may take it.
    invitation = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["rest@example.com"], "role": "member"}, actor=OWNER).json["invitations"][0]["id"]
    assert svc.request("POST", f"/v1/invitations/{invitation}/accept", actor="rest@example.com").status == 200
    impostor = user_body("REST@example.com", "impostor@example.com")
    scim_error(scim.request("POST", "/Users", impostor), 409, "uniqueness")
    # An active-only PATCH of that member suspends them and writes no directory profile (no stale email kept).
    rest = scim.ok(scim.request("GET", '/Users?filter=userName%20eq%20%22rest%40example.com%22'))["Resources"][0]
    start = scim.seq()
    scim.ok(scim.request("PATCH", f"/Users/{rest['id']}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}))
    assert [e["type"] for e in scim.events_after(start)] == ["member.suspended"]
    # A PUT without `active` leaves it as held (still suspended).
    put = scim.ok(scim.request("PUT", f"/Users/{rest['id']}", {"schemas": [USER], "userName": "rest@example.com", "displayName": "Rest"}))
    assert put["active"] is False and put["displayName"] == "Rest"
    # Attributes of each value of a multi-valued attribute.
    picked = scim.ok(scim.request("GET", f"/Users/{rest['id']}?attributes=emails.value"))
    assert picked["emails"] == [{"value": "rest@example.com"}] and "userName" not in picked
    dropped = scim.ok(scim.request("GET", f"/Users/{rest['id']}?excludedAttributes=groups.display"))
    assert all("display" not in g for g in dropped["groups"]) and dropped["groups"][0]["value"] == "member"
    # A group PUT without members changes nothing; a group request naming over 1000 members is refused whole.
    uid = scim.ok(scim.request("POST", "/Users", user_body("mod@example.com", "mod@example.com")), 201)["id"]
    scim.ok(scim.request("PATCH", "/Groups/moderator", {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}] * 50}]}))
    before = scim.seq()
    scim.ok(scim.request("PUT", "/Groups/moderator", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "moderator"}))
    assert scim.seq() == before
    many = [{"value": "usr_" + format(n, "026d")} for n in range(1001)]
    scim_error(scim.request("PATCH", "/Groups/viewer", {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": many}]}), 400, "tooMany")
    assert scim.seq() == before

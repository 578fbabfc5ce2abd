"""Regression tests for the hardening of issue #10, written as an attacker would: key validity per
membership, re-invitation rights, frozen orgs, used invitations, percent-decoded and normalized emails,
strict headers and content types, paging with Link, ETags, idempotency, the loopback listener's Host
check, socket safety, heavy reads next to /v1/health, and a stalled client during SIGTERM.

Every test runs the real binary (ORGLEDGER_BIN_DIR) over its Unix socket, or its loopback listener."""
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
import unicodedata
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from service import BIN, OWNER, Reply, Service, UnixConnection, create, head, invite, join, problem


# --- helpers -------------------------------------------------------------------------------------------


def member_path(email, org="acme"):
    return f"/v1/orgs/{org}/members/{quote(email, safe='')}"


def verify(svc, secret):
    return svc.request("POST", "/v1/auth/verify", {"secret": secret})


def keys_by_id(svc, actor=OWNER):
    reply = svc.request("GET", "/v1/orgs/acme/api-keys", actor=actor)
    assert reply.status == 200, reply
    return {k["id"]: k for k in reply.json["api_keys"]}


def link_target(reply):
    link = reply.header("link")
    if link is None:
        return None
    assert link.endswith('>; rel="next"'), link
    return link[1:link.index(">")]


def query_of(target):
    assert target is not None, "expected a Link: rel=\"next\""
    return parse_qs(urlsplit(target).query, keep_blank_values=True)


def raw_request(sock_path, method, path, header_pairs, body=b""):
    """One request with exactly these headers (duplicates allowed), over the Unix socket."""
    connection = UnixConnection(sock_path)
    connection.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
    for name, value in header_pairs:
        connection.putheader(name, value)
    if body:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body or None)
    response = connection.getresponse()
    reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    connection.close()
    return reply


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    probe = socket.socket(family)
    probe.bind((host, 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# --- 1. API keys: validity follows the creator's membership ------------------------------------------

def test_key_of_a_removed_admin_stays_dead_after_reinvite_and_promotion(svc):
    create(svc)
    join(svc, "bob@example.com", "admin")
    key = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "bob-admin", "role": "admin"}, actor="bob@example.com")
    assert key.status == 201, key
    secret, key_id = key.json["secret"], key.json["id"]
    assert verify(svc, secret).status == 200
    removed = svc.request("DELETE", member_path("bob@example.com"), actor=OWNER)
    assert removed.status == 200, removed
    problem(verify(svc, secret), 401)
    listed = keys_by_id(svc)[key_id]
    assert (listed["status"], listed["void_reason"]) == ("void", "creator_left"), listed
    # Re-invited as viewer: a new membership revives nothing.
    join(svc, "bob@example.com", "viewer")
    problem(verify(svc, secret), 401)
    # Even promoted back to admin by the owner: still a new membership, the old key stays void.
    promoted = svc.request("PUT", member_path("bob@example.com") + "/role", {"role": "admin"}, actor=OWNER)
    assert promoted.status == 200 and promoted.json["role"] == "admin", promoted
    problem(verify(svc, secret), 401)
    listed = keys_by_id(svc)[key_id]
    assert (listed["status"], listed["void_reason"]) == ("void", "creator_left"), listed


def test_key_of_a_member_who_left_stays_dead_after_rejoining(svc):
    create(svc)
    join(svc, "bob@example.com", "admin")
    secret = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "k", "role": "viewer"}, actor="bob@example.com").json["secret"]
    assert verify(svc, secret).status == 200
    left = svc.request("DELETE", member_path("bob@example.com"), actor="bob@example.com")
    assert left.status == 200 and left.json["event"] == "member.left", left
    problem(verify(svc, secret), 401)
    join(svc, "bob@example.com", "admin")
    problem(verify(svc, secret), 401)


def test_key_of_a_demoted_creator_stops_verifying_and_comes_back_on_promotion(svc):
    create(svc)
    join(svc, "bob@example.com", "admin")
    created = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "bob-admin", "role": "admin"}, actor="bob@example.com")
    assert created.status == 201, created
    secret, key_id = created.json["secret"], created.json["id"]
    ok = verify(svc, secret)
    assert ok.status == 200 and ok.json["role"] == "admin", ok
    demoted = svc.request("PUT", member_path("bob@example.com") + "/role", {"role": "moderator"}, actor=OWNER)
    assert demoted.status == 200 and demoted.json["role"] == "moderator", demoted
    problem(verify(svc, secret), 401)
    listed = keys_by_id(svc)[key_id]
    assert (listed["status"], listed["void_reason"]) == ("void", "creator_demoted"), listed
    promoted = svc.request("PUT", member_path("bob@example.com") + "/role", {"role": "admin"}, actor=OWNER)
    assert promoted.status == 200, promoted
    back = verify(svc, secret)
    assert back.status == 200 and back.json["key_id"] == key_id and back.json["role"] == "admin", back
    listed = keys_by_id(svc)[key_id]
    assert (listed["status"], listed["void_reason"]) == ("active", None), listed


def test_key_of_a_suspended_creator_is_void_until_reinstated(svc):
    create(svc)
    join(svc, "bob@example.com", "admin")
    created = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "k", "role": "member"}, actor="bob@example.com").json
    assert svc.request("POST", member_path("bob@example.com") + "/suspend", actor=OWNER).status == 200
    problem(verify(svc, created["secret"]), 401)
    listed = keys_by_id(svc)[created["id"]]
    assert (listed["status"], listed["void_reason"]) == ("void", "creator_suspended"), listed
    assert svc.request("POST", member_path("bob@example.com") + "/reinstate", actor=OWNER).status == 200
    assert verify(svc, created["secret"]).status == 200
    listed = keys_by_id(svc)[created["id"]]
    assert (listed["status"], listed["void_reason"]) == ("active", None), listed


def test_key_list_shows_revoked_auth_reset_and_org_inactive(svc):
    create(svc)
    revoked = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "old", "role": "admin"}, actor=OWNER).json
    live = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "live", "role": "viewer"}, actor=OWNER).json
    gone = svc.request("DELETE", f"/v1/orgs/acme/api-keys/{revoked['id']}", actor=OWNER)
    assert gone.status == 200, gone
    problem(verify(svc, revoked["secret"]), 401)
    keys = keys_by_id(svc)
    assert (keys[revoked["id"]]["status"], keys[revoked["id"]]["void_reason"]) == ("revoked", None), keys
    assert (keys[live["id"]]["status"], keys[live["id"]]["void_reason"]) == ("active", None), keys
    reset = svc.request("POST", "/v1/orgs/acme/auth/reset", actor=OWNER)
    assert reset.status == 200, reset
    keys = keys_by_id(svc)
    assert (keys[live["id"]]["status"], keys[live["id"]]["void_reason"]) == ("void", "auth_reset"), keys
    assert keys[revoked["id"]]["status"] == "revoked", keys  # revoked stays revoked, not "void"
    problem(verify(svc, live["secret"]), 401)
    # A key made after the reset verifies, until the org is pending deletion.
    fresh = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "fresh", "role": "admin"}, actor=OWNER).json
    assert verify(svc, fresh["secret"]).status == 200
    assert svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "acme"}, actor=OWNER).status == 202
    problem(verify(svc, fresh["secret"]), 401)
    keys = keys_by_id(svc)
    assert (keys[fresh["id"]]["status"], keys[fresh["id"]]["void_reason"]) == ("void", "org_inactive"), keys
    assert svc.request("DELETE", "/v1/orgs/acme/deletion", actor=OWNER).status == 200
    assert verify(svc, fresh["secret"]).status == 200
    for key in keys_by_id(svc).values():
        assert key["status"] in ("active", "revoked", "void") and "secret" not in key
        assert (key["void_reason"] is None) == (key["status"] != "void"), key


# --- 2. Re-inviting needs the right to revoke the pending invitation ---------------------------------

def test_moderator_cannot_replace_a_pending_admin_invitation(svc):
    create(svc)
    join(svc, "mod@example.com", "moderator")
    admin_inv = invite(svc, ["target@example.com"], "admin")[0]
    before = head(svc)
    for spelling in ("target@example.com", "Target@Example.COM", " target@example.com "):
        refused = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [spelling], "role": "member"}, actor="mod@example.com")
        problem(refused, 403, "not_permitted")
    assert head(svc) == before
    listed = svc.request("GET", "/v1/orgs/acme/invitations?status=pending", actor=OWNER).json["invitations"]
    assert [(i["id"], i["role"], i["status"]) for i in listed if i["email"] == "target@example.com"] == [(admin_inv["id"], "admin", "pending")]
    mine = svc.request("GET", "/v1/invitations", actor="target@example.com").json["invitations"]
    assert [(i["id"], i["role"]) for i in mine] == [(admin_inv["id"], "admin")]
    # The moderator may still replace an invitation it could revoke.
    member_inv = invite(svc, ["m@example.com"], "member")[0]
    again = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["m@example.com"], "role": "viewer"}, actor="mod@example.com")
    assert again.status == 201, again
    statuses = {i["id"]: i["status"] for i in svc.request("GET", "/v1/orgs/acme/invitations", actor=OWNER).json["invitations"]}
    assert statuses[member_inv["id"]] == "revoked" and statuses[admin_inv["id"]] == "pending"


# --- 3. A frozen org refuses declines ----------------------------------------------------------------

def test_decline_while_pending_deletion_is_409_and_writes_nothing(svc):
    create(svc)
    inv = invite(svc, ["x@example.com"])[0]
    assert svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "acme"}, actor=OWNER).status == 202
    before = head(svc)
    problem(svc.request("POST", f"/v1/invitations/{inv['id']}/decline", actor="x@example.com"), 409, "pending_deletion")
    problem(svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="x@example.com"), 409, "pending_deletion")
    assert head(svc) == before
    listed = svc.request("GET", "/v1/orgs/acme/invitations", actor=OWNER).json["invitations"]
    assert [(i["id"], i["status"]) for i in listed] == [(inv["id"], "pending")]


# --- 4. Used invitations -------------------------------------------------------------------------------

def test_accepting_a_used_invitation_is_410(svc):
    create(svc)
    accepted, declined, revoked = invite(svc, ["a@example.com", "d@example.com", "r@example.com"])
    by_email = {i["email"]: i for i in (accepted, declined, revoked)}
    accepted, declined, revoked = by_email["a@example.com"], by_email["d@example.com"], by_email["r@example.com"]
    assert svc.request("POST", f"/v1/invitations/{accepted['id']}/accept", actor="a@example.com").status == 200
    assert svc.request("POST", f"/v1/invitations/{declined['id']}/decline", actor="d@example.com").status == 200
    assert svc.request("DELETE", f"/v1/orgs/acme/invitations/{revoked['id']}", actor=OWNER).status == 200
    before = head(svc)
    for inv in (accepted, declined, revoked):
        problem(svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor=inv["email"]), 410, "invitation_not_pending")
    assert head(svc) == before


def test_declining_a_used_invitation_is_410(svc):
    """Spec §5: 410 for a used invitation; declining is the other invitee action."""
    create(svc)
    invs = {i["email"]: i for i in invite(svc, ["a@example.com", "d@example.com", "r@example.com"])}
    assert svc.request("POST", f"/v1/invitations/{invs['a@example.com']['id']}/accept", actor="a@example.com").status == 200
    assert svc.request("POST", f"/v1/invitations/{invs['d@example.com']['id']}/decline", actor="d@example.com").status == 200
    assert svc.request("DELETE", f"/v1/orgs/acme/invitations/{invs['r@example.com']['id']}", actor=OWNER).status == 200
    before = head(svc)
    for email, inv in invs.items():
        problem(svc.request("POST", f"/v1/invitations/{inv['id']}/decline", actor=email), 410, "invitation_not_pending")
    assert head(svc) == before


# --- 5. Percent-decoded paths, NFC/NFD and IDN spellings -----------------------------------------------

@pytest.mark.parametrize("email", ["josé@example.com", "ada@münchen.de"])
def test_non_ascii_member_is_addressable_by_its_percent_encoded_email(svc, email):
    create(svc)
    joined = join(svc, email)
    assert joined["email"] == email
    path = member_path(email)
    assert "%" in path and email not in path
    got = svc.request("GET", path, actor=OWNER)
    assert got.status == 200 and got.json["email"] == email, got
    role = svc.request("PUT", path + "/role", {"role": "moderator"}, actor=OWNER)
    assert role.status == 200 and role.json["role"] == "moderator", role
    suspended = svc.request("POST", path + "/suspend", actor=OWNER)
    assert suspended.status == 200 and suspended.json["status"] == "suspended", suspended
    reinstated = svc.request("POST", path + "/reinstate", actor=OWNER)
    assert reinstated.status == 200 and reinstated.json["status"] == "active", reinstated
    removed = svc.request("DELETE", path, actor=OWNER)
    assert removed.status == 200 and removed.json["event"] == "member.removed", removed
    problem(svc.request("GET", path, actor=OWNER), 404)
    # Back again, and this time the member leaves on its own (DELETE of its own email).
    join(svc, email)
    left = svc.request("DELETE", path, actor=email)
    assert left.status == 200 and left.json["event"] == "member.left", left
    members = [m["email"] for m in svc.request("GET", "/v1/orgs/acme/members", actor=OWNER).json["members"]]
    assert members == [OWNER]


def test_nfc_and_nfd_spellings_reach_the_same_member(svc):
    nfc, nfd = "jos\u00e9@example.com", "jose\u0301@example.com"
    assert unicodedata.normalize("NFC", nfd) == nfc and nfc != nfd
    create(svc)
    # Invited in NFD, accepted by the NFC spelling: one mailbox.
    joined = join(svc, nfd, accept_as=nfc)
    assert joined["email"] == nfc
    for spelling in (nfc, nfd):
        got = svc.request("GET", member_path(spelling), actor=OWNER)
        assert got.status == 200 and got.json["email"] == nfc, (spelling, got)
    # A command through the NFD path changes the NFC member.
    changed = svc.request("PUT", member_path(nfd) + "/role", {"role": "viewer"}, actor=OWNER)
    assert changed.status == 200 and changed.json["email"] == nfc and changed.json["role"] == "viewer", changed
    assert svc.request("GET", member_path(nfc), actor=OWNER).json["role"] == "viewer"
    # The NFD actor is the NFC member: it may read the member list and sees one José.
    listed = svc.request("GET", "/v1/orgs/acme/members", actor=nfd)
    assert listed.status == 200, listed
    assert sorted(m["email"] for m in listed.json["members"]) == sorted([OWNER, nfc])
    # Inviting either spelling finds the existing member rather than a second mailbox.
    for spelling in (nfc, nfd):
        problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [spelling], "role": "member"}, actor=OWNER), 409, "already_member")
    # Suspended through one spelling, already suspended through the other.
    assert svc.request("POST", member_path(nfd) + "/suspend", actor=OWNER).status == 200
    problem(svc.request("POST", member_path(nfc) + "/suspend", actor=OWNER), 409, "already_suspended")
    # The suspended NFD actor can do nothing.
    problem(svc.request("GET", "/v1/orgs/acme/members", actor=nfd), 403, "suspended")


def test_punycode_and_unicode_domains_are_one_member(svc):
    create(svc)
    joined = join(svc, "ada@xn--mnchen-3ya.de", accept_as="ada@münchen.de")
    assert joined["email"] == "ada@münchen.de"  # stored in Unicode form
    for spelling in ("ada@xn--mnchen-3ya.de", "ada@münchen.de", "ADA@XN--MNCHEN-3YA.DE", "Ada@MÜNCHEN.de"):
        got = svc.request("GET", member_path(spelling), actor=OWNER)
        assert got.status == 200 and got.json["email"] == "ada@münchen.de", (spelling, got)
    members = [m["email"] for m in svc.request("GET", "/v1/orgs/acme/members", actor=OWNER).json["members"]]
    assert sorted(members) == sorted([OWNER, "ada@münchen.de"])
    # The punycode actor acts as the member, and a command via the punycode path hits the same member.
    assert svc.request("GET", "/v1/orgs/acme/members", actor="ada@xn--mnchen-3ya.de").status == 200
    changed = svc.request("PUT", member_path("ada@xn--mnchen-3ya.de") + "/role", {"role": "viewer"}, actor=OWNER)
    assert changed.status == 200 and changed.json["email"] == "ada@münchen.de", changed
    # Inviting either spelling again is an invitation to the existing member, not to a second mailbox.
    before = head(svc)
    for spelling in ("ada@münchen.de", "ada@xn--mnchen-3ya.de", "ADA@XN--MNCHEN-3YA.DE"):
        problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [spelling], "role": "member"}, actor=OWNER), 409, "already_member")
    assert head(svc) == before
    members = [m["email"] for m in svc.request("GET", "/v1/orgs/acme/members", actor=OWNER).json["members"]]
    assert members.count("ada@münchen.de") == 1 and "ada@xn--mnchen-3ya.de" not in members


# --- 6. Hostile emails ---------------------------------------------------------------------------------

HOSTILE_EMAILS = {
    "zero width space": "bo\u200bb@example.com",
    "right-to-left override": "bob\u202e@example.com",
    "word joiner": "b\u2060ob@example.com",
    "byte order mark": "\ufeffbob@example.com",
    "C0 control": "bo\x01b@example.com",
    "DEL": "bob\x7f@example.com",
    "C1 control": "bob\x85@example.com",
    "line separator": "bob\u2028@example.com",
    "soft hyphen": "bo\u00adb@example.com",
    "LRI isolate": "\u2066bob@example.com",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EMAILS))
def test_hostile_email_is_400_as_actor_and_in_invitations(svc, name):
    email = HOSTILE_EMAILS[name]
    create(svc)
    before = head(svc)
    as_actor = svc.request("POST", "/v1/orgs", {"handle": "evil", "display_name": "Evil"}, actor=email)
    doc = problem(as_actor, 400)
    # C0 and DEL never get past the HTTP parser: its refusal is a problem document too, without fields.
    assert doc.get("errors") or (doc["reason"] == "malformed_http" and name in ("C0 control", "DEL")), doc
    problem(svc.request("GET", "/v1/orgs/acme", actor=email), 400)
    invited = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["ok@example.com", email], "role": "member"}, actor=OWNER)
    doc = problem(invited, 400)
    assert doc.get("errors") and all(e["field"].startswith("emails") for e in doc["errors"]), doc
    assert head(svc) == before  # all or nothing: ok@example.com was not invited either
    assert svc.request("GET", "/v1/orgs/acme/invitations", actor=OWNER).json["invitations"] == []


def test_email_over_254_bytes_of_few_graphemes_is_400_never_500(svc):
    create(svc)
    long_email = "a" + "\u0301" * 300 + "@example.com"
    assert len(long_email.encode()) > 600
    before = head(svc)
    invited = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [long_email], "role": "member"}, actor=OWNER)
    doc = problem(invited, 400)
    assert doc.get("errors"), doc
    problem(svc.request("POST", "/v1/orgs", {"handle": "longer", "display_name": "L"}, actor=long_email), 400)
    # 254 bytes is the line: a 255-byte ASCII address is refused too.
    ascii_long = "a" * (255 - len("@example.com")) + "@example.com"
    assert len(ascii_long.encode()) == 255
    problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [ascii_long], "role": "member"}, actor=OWNER), 400)
    # Addressed in a path, it must be refused or unknown, never a 500.
    for method, suffix, body in (("GET", "", None), ("DELETE", "", None), ("PUT", "/role", {"role": "viewer"}), ("POST", "/suspend", None)):
        reply = svc.request(method, member_path(long_email) + suffix, body, actor=OWNER)
        assert reply.status in (400, 404), (method, suffix, reply)
        problem(reply, reply.status)
    assert head(svc) == before


# --- 7. Display names and Idempotency-Key limits ------------------------------------------------------

def test_one_grapheme_of_a_megabyte_as_display_name_is_400(svc):
    create(svc)
    before = head(svc)
    name = "a" + "\u0301" * 499_999  # one grapheme cluster, ~1 MB of UTF-8
    body = json.dumps({"handle": "huge", "display_name": name}, ensure_ascii=False).encode()
    assert 900_000 < len(body) < (1 << 20)
    created = svc.request("POST", "/v1/orgs", raw=body, actor=OWNER)
    doc = problem(created, 400)
    assert any(e["field"] == "display_name" for e in doc.get("errors", [])), doc
    patch = json.dumps({"display_name": name}, ensure_ascii=False).encode()
    doc = problem(svc.request("PATCH", "/v1/orgs/acme", raw=patch, actor=OWNER), 400)
    assert any(e["field"] == "display_name" for e in doc.get("errors", [])), doc
    key = json.dumps({"name": name, "role": "viewer"}, ensure_ascii=False).encode()
    problem(svc.request("POST", "/v1/orgs/acme/api-keys", raw=key, actor=OWNER), 400)
    assert head(svc) == before
    assert svc.request("GET", "/v1/orgs/acme", actor=OWNER).json["display_name"] == "Acme"


@pytest.mark.parametrize("name", ["\u200b", "\u3000", " ", "\u200b\u200b\u200b", "\u3000 \u3000", "\u2060", "\ufeff"])
def test_blank_or_invisible_display_name_is_400(svc, name):
    create(svc)
    before = head(svc)
    doc = problem(svc.request("POST", "/v1/orgs", {"handle": "blank", "display_name": name}, actor=OWNER), 400)
    assert any(e["field"] == "display_name" for e in doc.get("errors", [])), doc
    doc = problem(svc.request("PATCH", "/v1/orgs/acme", {"display_name": name}, actor=OWNER), 400)
    assert any(e["field"] == "display_name" for e in doc.get("errors", [])), doc
    problem(svc.request("POST", "/v1/orgs/acme/api-keys", {"name": name, "role": "viewer"}, actor=OWNER), 400)
    assert head(svc) == before


@pytest.mark.parametrize("key", [b"k" * 300, b"k" * 256, "kéy".encode(), "key-\u2028".encode(), b""],
                         ids=["300 bytes", "256 bytes", "non-ASCII", "line separator", "empty"])
def test_bad_idempotency_key_is_400_and_writes_nothing(svc, key):
    create(svc)
    before = head(svc)
    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER,
                headers={"Idempotency-Key": key})
    problem(reply, 400)
    assert head(svc) == before


def test_idempotency_key_of_255_printable_bytes_is_accepted(svc):
    create(svc)
    key = "k" * 254 + "~"
    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER,
                headers={"Idempotency-Key": key})
    assert reply.status == 201, reply


# --- 8. Strict headers ---------------------------------------------------------------------------------

def test_x_client_ip_must_be_an_ip_address(svc):
    create(svc)
    before = head(svc)
    for bad in ("not-an-ip", "10.0.0.256", "1.2.3", "::g", "10.0.0.1, 10.0.0.2", "127.0.0.1:80", "<script>"):
        reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER,
                    headers={"X-Client-IP": bad})
        problem(reply, 400)
    assert head(svc) == before
    for n, good in enumerate(("::1", "10.0.0.1", "2001:db8::1")):
        reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [f"ok{n}@example.com"], "role": "member"}, actor=OWNER,
                    headers={"X-Client-IP": good})
        assert reply.status == 201, (good, reply)
    # Each invitation of a new email also makes its user (user.created): two events apiece.
    assert head(svc) == before + 6


UNICODE_CONTROLS = {"U+2028": "req-\u2028-1", "U+2029": "req-\u2029", "U+202E": "req-\u202e-gnp.exe", "C1 0x85": "req-\x85-1", "U+2066": "req-\u2066x"}


@pytest.mark.parametrize("name", sorted(UNICODE_CONTROLS))
def test_x_request_id_with_controls_or_bidi_is_400(svc, name):
    value = UNICODE_CONTROLS[name].encode("utf-8")
    create(svc)
    before = head(svc)
    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER,
                headers={"X-Request-Id": value})
    problem(reply, 400)
    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["y@example.com"], "role": "member"}, actor=OWNER,
                headers={"User-Agent": value})
    problem(reply, 400)
    assert head(svc) == before


@pytest.mark.parametrize("name", sorted(UNICODE_CONTROLS))
def test_header_values_with_controls_or_bidi_are_400_on_reads_too(svc, name):
    """Spec §5: header values with C0/C1 controls, DEL, U+2028/2029 or bidi controls are 400 — any request."""
    value = UNICODE_CONTROLS[name].encode("utf-8")
    create(svc)
    problem(svc.request("GET", "/v1/orgs/acme", actor=OWNER, headers={"X-Request-Id": value}), 400)
    problem(svc.request("GET", "/v1/orgs/acme/members", actor=OWNER, headers={"User-Agent": value}), 400)


@pytest.mark.parametrize("header,value", [("X-Request-Id", b"req\x1b[31m"), ("X-Request-Id", b"req\x7f"), ("X-Request-Id", b"req\x00x"),
                                          ("Idempotency-Key", b"a\x01b"), ("Idempotency-Key", b"a\x7fb"), ("X-Actor", b"bo\x01b@example.com"),
                                          ("User-Agent", b"ua\x08")],
                         ids=["X-Request-Id ESC", "X-Request-Id DEL", "X-Request-Id NUL", "Idempotency-Key C0", "Idempotency-Key DEL", "X-Actor C0", "User-Agent BS"])
def test_c0_and_del_in_headers_are_400_problem_documents(svc, header, value):
    """Spec §5: every error, including those of the HTTP parser, is a problem document with a reason."""
    create(svc)
    before = head(svc)
    headers = {header: value}
    actor = None if header == "X-Actor" else OWNER
    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=actor, headers=headers)
    doc = problem(reply, 400)
    assert doc.get("reason"), doc
    assert head(svc) == before


def test_two_x_actor_headers_are_400(svc):
    create(svc)
    join(svc, "mallory@example.com", "viewer")
    before = head(svc)
    body = json.dumps({"display_name": "Pwned"}).encode()
    for pair in ((OWNER, "mallory@example.com"), ("mallory@example.com", OWNER), (OWNER, OWNER)):
        headers = [("X-Actor", pair[0]), ("X-Actor", pair[1]), ("Content-Type", "application/json")]
        reply = raw_request(svc.sock, "PATCH", "/v1/orgs/acme", headers, body)
        problem(reply, 400)
        problem(raw_request(svc.sock, "GET", "/v1/orgs/acme/audit", headers[:2]), 400)
    # Differently cased duplicates are the same header.
    reply = raw_request(svc.sock, "PATCH", "/v1/orgs/acme", [("x-actor", "mallory@example.com"), ("X-ACTOR", OWNER), ("Content-Type", "application/json")], body)
    problem(reply, 400)
    assert head(svc) == before
    assert svc.request("GET", "/v1/orgs/acme", actor=OWNER).json["display_name"] == "Acme"


# --- 9. Content types ----------------------------------------------------------------------------------

def test_content_type_must_be_json_exactly(svc):
    create(svc)
    before = head(svc)
    body = json.dumps({"emails": ["x@example.com"], "role": "member"}).encode()
    for bad in ("application/jsonx", "application/json-evil", "text/json", "application/x-json", "application/jsonp", "application/problem+jsonx"):
        problem(svc.request("POST", "/v1/orgs/acme/invitations", raw=body, actor=OWNER, content_type=bad), 415)
    assert head(svc) == before
    ok = svc.request("POST", "/v1/orgs/acme/invitations", raw=body, actor=OWNER, content_type="application/json; charset=utf-8")
    assert ok.status == 201, ok
    ok = svc.request("POST", "/v1/orgs/acme/invitations", raw=json.dumps({"emails": ["y@example.com"], "role": "member"}).encode(),
             actor=OWNER, content_type="Application/JSON")
    assert ok.status == 201, ok
    patched = svc.request("PATCH", "/v1/orgs/acme", raw=json.dumps({"display_name": "Merge"}).encode(), actor=OWNER,
                  content_type="application/merge-patch+json")
    assert patched.status == 200 and patched.json["display_name"] == "Merge", patched


# --- 10. /v1/events after= bounds ----------------------------------------------------------------------

def test_events_after_the_largest_seq_is_empty_and_beyond_is_400(svc):
    create(svc)
    invite(svc, ["a@example.com"])
    top = svc.request("GET", "/v1/events?after=18446744073709551615")
    assert top.status == 200 and top.body == b"", top
    assert top.header("link") is None
    for bad in ("18446744073709551616", "99999999999999999999999", "-1", "1e3", "0x10", "1%00", "", "1.0"):
        problem(svc.request("GET", f"/v1/events?after={bad}"), 400)
    everything = svc.request("GET", "/v1/events?after=0")
    # user.created (owner), org.created, member.joined, user.created (a@), invitation.sent
    assert [json.loads(l)["seq"] for l in everything.body.splitlines()] == [1, 2, 3, 4, 5]


# --- 11. Unknown and malformed ids --------------------------------------------------------------------

@pytest.mark.parametrize("ident", ["a" * 600, "inv_%00x", "key_%00x", "inv_" + "z" * 600, "%ff%fe", "inv_%2e%2e%2f", "inv_a%2Fb"],
                         ids=["600 a", "inv_%00x", "key_%00x", "inv_ + 600 z", "invalid UTF-8", "inv_../", "inv_a/b"])
def test_malformed_ids_are_404_never_500(svc, ident):
    create(svc)
    invite(svc, ["x@example.com"])
    svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "k", "role": "viewer"}, actor=OWNER)
    before = head(svc)
    # A segment that does not decode to UTF-8 may be refused as 400 instead of 404.
    allowed = (400, 404) if ident == "%ff%fe" else (404,)
    for method, path in (("DELETE", f"/v1/orgs/acme/invitations/{ident}"),
                         ("DELETE", f"/v1/orgs/acme/api-keys/{ident}"),
                         ("POST", f"/v1/invitations/{ident}/accept"),
                         ("POST", f"/v1/invitations/{ident}/decline")):
        reply = svc.request(method, path, actor=OWNER)
        assert reply.status in allowed, (method, path, reply)
        problem(reply, reply.status)
    # There is no GET of one invitation or key: a GET is 404 or 405, never a 500.
    for path in (f"/v1/orgs/acme/invitations/{ident}", f"/v1/orgs/acme/api-keys/{ident}", f"/v1/invitations/{ident}"):
        reply = svc.request("GET", path, actor=OWNER)
        assert reply.status in (404, 405), (path, reply)
        problem(reply, reply.status)
    assert head(svc) == before


def test_unknown_org_id_of_600_chars_is_404(svc):
    create(svc)
    for org in ("org_" + "a" * 600, "org_" + "0" * 26, "org_%00", "a" * 600):
        for method, suffix in (("GET", ""), ("GET", "/members"), ("GET", "/invitations"), ("GET", "/audit"), ("DELETE", "/deletion")):
            problem(svc.request(method, f"/v1/orgs/{org}{suffix}", actor=OWNER), 404)
    problem(svc.request("PATCH", "/v1/orgs/org_" + "a" * 600, {"display_name": "X"}, actor=OWNER), 404)


# --- 12. Member paging in byte order of the user id -----------------------------------------------------

MEMBER_EMAILS = ["zoë@example.com", "émile@example.com", "Zed@example.com", "ärger@example.com", "b@example.com",
                 "Éva@example.com", "a@example.com", "ÿ@example.com", "ß@example.com", "ø@example.com",
                 "zz@example.com", "a+b@example.com", "ä@example.com", "a&b@example.com", "a%20b@example.com",
                 "a#b@example.com", "中@example.com", "ōtaki@example.com", "Ölaf@example.com", "c@example.com"]


def test_member_paging_returns_every_member_once_in_user_id_order(svc):
    """Members page in byte order of their user ids (which an email change does not move), each once."""
    assert len(MEMBER_EMAILS) == 20 and len(set(e.lower() for e in MEMBER_EMAILS)) == 20
    create(svc)
    viewers = set(MEMBER_EMAILS[::3])
    for email in MEMBER_EMAILS:
        join(svc, email, "viewer" if email in viewers else "member")
    stored = [unicodedata.normalize("NFC", e).lower() for e in MEMBER_EMAILS] + [OWNER]
    assert len(stored) == 21
    rows = svc.pages("/v1/orgs/acme/members", "members", actor=OWNER.encode(), limit=2)
    assert sorted(m["email"] for m in rows) == sorted(stored)
    ids = [m["user_id"] for m in rows]
    assert ids == sorted(ids, key=str.encode) and len(set(ids)) == 21
    # Filtered by role: the Link keeps role= and limit=.
    first = svc.request("GET", "/v1/orgs/acme/members?role=member&limit=2", actor=OWNER)
    assert first.status == 200 and len(first.json["members"]) == 2, first
    query = query_of(link_target(first))
    assert query.get("role") == ["member"] and query.get("limit") == ["2"] and query.get("cursor"), query
    members = svc.pages("/v1/orgs/acme/members?role=member", "members", actor=OWNER.encode(), limit=2)
    expected_members = sorted(unicodedata.normalize("NFC", e).lower() for e in MEMBER_EMAILS if e not in viewers)
    assert sorted(m["email"] for m in members) == expected_members
    assert [m["user_id"] for m in members] == sorted((m["user_id"] for m in members), key=str.encode)
    assert all(m["role"] == "member" for m in members)
    viewer_rows = svc.pages("/v1/orgs/acme/members?role=viewer", "members", actor=OWNER.encode(), limit=3)
    assert sorted(m["email"] for m in viewer_rows) == sorted(unicodedata.normalize("NFC", e).lower() for e in viewers)


# --- 13. Invitation paging ------------------------------------------------------------------------------

def test_invitations_are_paged_newest_first_with_status_filter(svc):
    create(svc)
    sent = []
    for n in range(9):
        sent.append(invite(svc, [f"user{n}@example.com"])[0])
    # Some are no longer pending.
    assert svc.request("POST", f"/v1/invitations/{sent[1]['id']}/accept", actor=sent[1]["email"]).status == 200
    assert svc.request("POST", f"/v1/invitations/{sent[4]['id']}/decline", actor=sent[4]["email"]).status == 200
    assert svc.request("DELETE", f"/v1/orgs/acme/invitations/{sent[6]['id']}", actor=OWNER).status == 200
    first = svc.request("GET", "/v1/orgs/acme/invitations?limit=2", actor=OWNER)
    assert first.status == 200 and len(first.json["invitations"]) == 2 and first.json["next_cursor"], first
    assert query_of(link_target(first)).get("limit") == ["2"]
    rows = svc.pages("/v1/orgs/acme/invitations", "invitations", actor=OWNER, limit=2)
    assert [i["id"] for i in rows] == [i["id"] for i in reversed(sent)]
    pending_first = svc.request("GET", "/v1/orgs/acme/invitations?status=pending&limit=2", actor=OWNER)
    query = query_of(link_target(pending_first))
    assert query.get("status") == ["pending"] and query.get("limit") == ["2"], query
    pending = svc.pages("/v1/orgs/acme/invitations?status=pending", "invitations", actor=OWNER, limit=2)
    expected = [i["id"] for i in reversed(sent) if i not in (sent[1], sent[4], sent[6])]
    assert [i["id"] for i in pending] == expected
    assert all(i["status"] == "pending" for i in pending)
    for bad in ("garbage", "%00", "-1", "a" * 600, "18446744073709551616"):
        problem(svc.request("GET", f"/v1/orgs/acme/invitations?limit=2&cursor={bad}", actor=OWNER), 400)
    for bad in ("0", "-1", "abc", "100000"):
        problem(svc.request("GET", f"/v1/orgs/acme/invitations?limit={bad}", actor=OWNER), 400)


# --- 14. /v1/events paging ------------------------------------------------------------------------------

def test_events_link_keeps_limit_and_paging_is_gap_free(svc):
    create(svc)
    for n in range(6):
        invite(svc, [f"e{n}@example.com"])
    total = head(svc)
    assert total > 5
    first = svc.request("GET", "/v1/events?limit=5")
    assert first.status == 200 and [json.loads(l)["seq"] for l in first.body.splitlines()] == [1, 2, 3, 4, 5]
    target = link_target(first)
    assert target is not None and urlsplit(target).path == "/v1/events", first.headers
    assert query_of(target) == {"after": ["5"], "limit": ["5"]}, target
    seqs, path, hops = [], "/v1/events?limit=5", 0
    while path and hops < 50:
        reply = svc.request("GET", path)
        assert reply.status == 200, reply
        seqs += [json.loads(l)["seq"] for l in reply.body.splitlines()]
        path = link_target(reply)
        if path:
            assert query_of(path).get("limit") == ["5"], path
        hops += 1
    assert seqs == list(range(1, total + 1))
    # A page that ends exactly at the head has no next link.
    last = svc.request("GET", f"/v1/events?after={total - 2}&limit=2")
    assert len(last.body.splitlines()) == 2 and last.header("link") is None, last.headers


# --- 15. Audit paging keeps filters ----------------------------------------------------------------------

def test_audit_link_keeps_action_and_limit(svc):
    create(svc)
    for n in range(5):
        invite(svc, [f"a{n}@example.com"])
        svc.request("PATCH", "/v1/orgs/acme", {"display_name": f"Acme {n}"}, actor=OWNER)
    first = svc.request("GET", "/v1/orgs/acme/audit?limit=2&action=invitation.sent", actor=OWNER)
    assert first.status == 200 and len(first.json["events"]) == 2, first
    query = query_of(link_target(first))
    assert query.get("action") == ["invitation.sent"] and query.get("limit") == ["2"] and query.get("cursor"), query
    events = svc.pages("/v1/orgs/acme/audit?action=invitation.sent", "events", actor=OWNER, limit=2)
    seqs = [e["seq"] for e in events]
    assert len(events) == 5 and seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 5
    assert {e.get("action", e.get("type")) for e in events} == {"invitation.sent"}, events[0]


# --- 16. ETags on reads ----------------------------------------------------------------------------------

def test_etag_of_member_invitations_and_keys_is_the_org_version(svc):
    create(svc)
    join(svc, "bob@example.com", "admin")
    invite(svc, ["carol@example.com"])
    svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "k", "role": "viewer"}, actor=OWNER)
    for _ in range(2):
        org = svc.request("GET", "/v1/orgs/acme", actor=OWNER)
        version = org.json["version"]
        assert org.header("etag") == f'"{version}"'
        for path in ("/v1/orgs/acme/members/bob@example.com", "/v1/orgs/acme/invitations", "/v1/orgs/acme/api-keys", "/v1/orgs/acme/members"):
            reply = svc.request("GET", path, actor=OWNER)
            assert reply.status == 200 and reply.header("etag") == f'"{version}"', (path, version, reply.headers)
        # A change moves every ETag with it.
        assert svc.request("PATCH", "/v1/orgs/acme", {"display_name": f"v{version}"}, actor=OWNER).status == 200
    # A stale ETag from those reads is refused on a command.
    problem(svc.request("PUT", "/v1/orgs/acme/members/bob@example.com/role", {"role": "viewer"}, actor=OWNER, headers={"If-Match": f'"{version}"'}), 412)


# --- 17. Idempotency -------------------------------------------------------------------------------------

def test_idempotency_replays_and_refuses_a_different_request(svc):
    create(svc)
    body = {"emails": ["ada@example.com"], "role": "member"}
    headers = {"Idempotency-Key": "attack-1"}
    first = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers=headers)
    assert first.status == 201 and first.header("idempotent-replayed") is None, first
    after_first = head(svc)
    again = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers=headers)
    assert again.status == 201 and again.body == first.body, again
    assert again.header("idempotent-replayed") == "true"
    assert again.header("etag") == first.header("etag") and again.header("etag")
    assert again.header("content-type") == first.header("content-type")
    assert head(svc) == after_first
    # Same key, different body.
    problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["eve@example.com"], "role": "member"}, actor=OWNER, headers=headers), 422, "idempotency_key_reused")
    problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["ada@example.com"], "role": "viewer"}, actor=OWNER, headers=headers), 422, "idempotency_key_reused")
    # Same key and body, different path or method.
    create(svc, "other")
    after_other = head(svc)
    problem(svc.request("POST", "/v1/orgs/other/invitations", body, actor=OWNER, headers=headers), 422, "idempotency_key_reused")
    problem(svc.request("PATCH", "/v1/orgs/acme", {"display_name": "X"}, actor=OWNER, headers=headers), 422, "idempotency_key_reused")
    assert head(svc) == after_other
    listed = svc.request("GET", "/v1/orgs/acme/invitations", actor=OWNER).json["invitations"]
    assert [i["email"] for i in listed] == ["ada@example.com"]
    assert svc.request("GET", "/v1/orgs/other/invitations", actor=OWNER).json["invitations"] == []
    # A replay after a later change still answers the first response, with its ETag.
    later = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers=headers)
    assert later.status == 201 and later.body == first.body and later.header("etag") == first.header("etag")


def test_idempotency_key_of_another_actor_does_not_replay_its_response(svc):
    create(svc)
    join(svc, "admin2@example.com", "admin")
    body = {"emails": ["ada@example.com"], "role": "member"}
    first = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers={"Idempotency-Key": "shared"})
    assert first.status == 201
    other = svc.request("POST", "/v1/orgs/acme/invitations", body, actor="admin2@example.com", headers={"Idempotency-Key": "shared"})
    assert other.header("idempotent-replayed") is None, other
    assert other.body != first.body


# --- 18. The loopback listener checks Host ---------------------------------------------------------------

def tcp_get(host, port, host_header, path="/v1/health"):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path, headers={"Host": host_header})
    response = connection.getresponse()
    reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    connection.close()
    return reply


def test_listen_refuses_foreign_host_headers(tmp_path):
    port = free_port()
    svc = Service(tmp_path, extra=("--listen", f"127.0.0.1:{port}")).wait_ready()
    try:
        for good in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}"):
            reply = tcp_get("127.0.0.1", port, good)
            assert reply.status == 200 and reply.json["status"] == "ok", (good, reply)
        for evil in ("evil.example", f"evil.example:{port}", f"localhost.evil.example:{port}", f"127.0.0.1.nip.io:{port}",
                     f"localhost@evil.example:{port}", "", f"127.0.0.1:{port + 1 if port < 65535 else port - 1}", f"2130706433:{port}"):
            reply = tcp_get("127.0.0.1", port, evil)
            problem(reply, 421, "host_not_allowed")
        # The Unix socket is not subject to the check.
        assert svc.request("GET", "/v1/health").status == 200
        create(svc)
        problem(tcp_get("127.0.0.1", port, "evil.example", "/v1/orgs/acme"), 421, "host_not_allowed")
        metrics = svc.request("GET", "/metrics").body.decode()
        assert 'orgledger_http_errors_total{status="421"} 9' in metrics, [l for l in metrics.splitlines() if "errors_total" in l]
    finally:
        svc.stop()


def test_listen_on_ipv6_loopback(tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        port = free_port(socket.AF_INET6, "::1")
    except OSError as error:
        pytest.skip(f"cannot bind ::1: {error}")
    svc = Service(tmp_path, extra=("--listen", f"[::1]:{port}")).wait_ready()
    try:
        reply = tcp_get("::1", port, f"[::1]:{port}")
        assert reply.status == 200 and reply.json["status"] == "ok", reply
        problem(tcp_get("::1", port, "evil.example"), 421, "host_not_allowed")
    finally:
        svc.stop()


# --- 19. Socket safety -----------------------------------------------------------------------------------

def test_serve_refuses_a_regular_file_as_socket_and_leaves_it(tmp_path):
    victim = tmp_path / "data.mdb"
    content = b"precious data, not a socket\n" * 100
    victim.write_bytes(content)
    before = os.stat(victim)
    result = subprocess.run([str(BIN / "orgledger"), "serve", "--data", str(tmp_path / "d"), "--socket", str(victim)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0, result
    assert "not a socket" in (result.stderr + result.stdout).lower(), result
    after = os.stat(victim)
    assert stat.S_ISREG(after.st_mode) and victim.read_bytes() == content
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


def test_serve_refuses_a_symlink_as_socket_and_leaves_both(tmp_path):
    target = tmp_path / "target.txt"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.sock"
    link.symlink_to(target)
    result = subprocess.run([str(BIN / "orgledger"), "serve", "--data", str(tmp_path / "d"), "--socket", str(link)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0, result
    assert os.path.islink(link) and target.read_bytes() == b"keep me"


def test_sigterm_removes_the_socket_and_its_lock(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        create(svc)
        assert os.path.exists(svc.sock)
    finally:
        code = svc.stop(signal.SIGTERM)
    assert code == 0
    assert not os.path.exists(svc.sock)
    assert not os.path.exists(svc.sock + ".lock")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("orgledger.sock")]
    assert leftovers == [], leftovers


# --- 20. Health stays fast under heavy reads --------------------------------------------------------------

def test_health_answers_within_a_second_during_16_heavy_reads(svc):
    create(svc, "big")
    started = time.time()
    for batch in range(30):
        emails = [f"u{batch:02d}-{n:03d}@example.com" for n in range(100)]
        invite(svc, emails, org="big")
    mid = head(svc)
    for batch in range(10):
        invite(svc, [f"late{batch:02d}-{n:03d}@example.com" for n in range(100)], org="big")
    assert time.time() - started < 15, "building the org took too long"
    stop = threading.Event()
    done, failures = [], []
    lock = threading.Lock()

    def heavy(n):
        paths = [f"/v1/orgs/big/members?as_of={mid}", "/v1/orgs/big/invitations?limit=1000",
                 f"/v1/orgs/big/invitations?as_of={mid}&limit=1000", "/v1/orgs/big/audit?limit=1000",
                 "/v1/events?limit=1000"]
        i = n
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            try:
                reply = svc.request("GET", path, actor=OWNER)
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failures.append((path, repr(error)))
                return
            with lock:
                (done if reply.status in (200, 400) else failures).append((path, reply.status))

    threads = [threading.Thread(target=heavy, args=(n,), daemon=True) for n in range(16)]
    for t in threads:
        t.start()
    latencies = []
    try:
        time.sleep(0.3)
        deadline = time.time() + 5
        while time.time() < deadline:
            t0 = time.monotonic()
            connection = UnixConnection(svc.sock, timeout=5)
            connection.request("GET", "/v1/health")
            response = connection.getresponse()
            response.read()
            connection.close()
            latencies.append(time.monotonic() - t0)
            assert response.status == 200
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not failures, failures[:5]
    assert sum(1 for _, status in done if status == 200) >= 16, done[:5]
    print(f"/v1/health: {len(latencies)} probes, slowest {max(latencies):.3f}s; heavy reads answered: {len(done)}")
    assert latencies and max(latencies) < 1.0, f"slowest /v1/health: {max(latencies):.3f}s of {len(latencies)}; heavy reads done: {len(done)}"


# --- 21. A stalled client does not hold up SIGTERM (slow: up to ~35 s) ------------------------------------

def test_slow_stalled_half_request_does_not_block_sigterm(tmp_path):
    """SLOW (bounded at 35 s). A client sends half a request head/body and stops; SIGTERM must still
    finish. Taking longer than 35 s is a failure."""
    svc = Service(tmp_path).wait_ready()
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(svc.sock)
    try:
        stalled.sendall(b"POST /v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.3)
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(svc.sock)  # and one that sends nothing at all
        started = time.monotonic()
        os.killpg(svc.process.pid, signal.SIGTERM)
        try:
            code = svc.process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            svc.process.kill()
            svc.process.wait(timeout=10)
            pytest.fail("serve did not exit within 35 s of SIGTERM while a client held a half-sent request")
        elapsed = time.monotonic() - started
        assert code == 0, (code, svc.output()[-2000:])
        assert not os.path.exists(svc.sock)
        print(f"SIGTERM with a stalled client finished in {elapsed:.1f}s")
        idle.close()
    finally:
        stalled.close()
        if svc.process.poll() is None:
            svc.stop(signal.SIGKILL)


def test_a_header_that_is_not_utf8_is_400_not_another_person(svc):
    """`jos\\xe9@example.com` in Latin-1 is not UTF-8: it must not become `jos\\ufffd@example.com`, a
    different (and valid-looking) identity."""
    create(svc)
    before = head(svc)
    latin1 = "jos\xe9@example.com"  # http.client writes str headers as Latin-1: the byte 0xE9
    problem(svc.request("POST", "/v1/orgs", {"handle": "latin", "display_name": "Latin"}, actor=latin1.encode("latin-1")), 400)
    problem(svc.request("GET", "/v1/orgs/acme", headers={"X-Request-Id": "r\xe9"}, actor=OWNER), 400)
    assert head(svc) == before


def test_idle_connections_cannot_lock_everyone_out(tmp_path):
    """300 idle connections against a service limited to 256 file descriptors: the connection cap (a
    quarter of the limit) keeps it from running out of descriptors, the header timeout closes the idle
    ones, and a health check gets its answer once they have been cleared — in seconds, not never."""
    import socket as sockets
    service = Service(tmp_path, extra=("--header-timeout", "1"), ulimit_files=256).wait_ready()
    idle = []
    try:
        for _ in range(300):
            s = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
            s.settimeout(0.5)
            try:
                s.connect(service.sock)
                idle.append(s)
            except OSError:
                s.close()  # the accept queue is full: the attacker's problem, not the service's
        assert len(idle) > 64, "the test did not get past the connection cap"
        start = time.time()
        reply = None
        while reply is None and time.time() - start < 30:
            try:
                reply = service.request("GET", "/v1/health", timeout=30)
            except BlockingIOError:
                time.sleep(0.1)  # the accept queue is still full of idle connections: try again
        waited = time.time() - start
        assert reply is not None and reply.status == 200
        assert waited < 15, f"health waited {waited:.1f} s behind idle connections"
        assert service.process.poll() is None, "the service died"
    finally:
        for s in idle:
            s.close()
        service.stop()
    assert "Too many open files" not in service.output()


def test_an_idempotent_refusal_is_replayed_as_the_first_response(svc):
    """The first response is kept whatever it was: a refused command replays its problem document, and
    the same key with another request is 422 as after a success."""
    create(svc)
    headers = {"Idempotency-Key": "refused-1"}
    body = {"emails": ["x@example.com"], "role": "owner"}  # owner is never granted by invitation: 403
    first = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers=headers)
    problem(first, 403, "not_permitted")
    again = svc.request("POST", "/v1/orgs/acme/invitations", body, actor=OWNER, headers=headers)
    problem(again, 403, "not_permitted")
    assert again.body == first.body and again.header("idempotent-replayed") == "true"
    problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER, headers=headers),
            422, "idempotency_key_reused")


def test_the_parsers_refusals_are_counted(svc):
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(5)
    raw.connect(svc.sock)
    raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\n\r\n")
    answer = raw.recv(65536)
    raw.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"malformed_http" in answer, answer
    assert 'orgledger_http_errors_total{status="400"} 1' in svc.request("GET", "/metrics").body.decode()


def test_every_list_is_paged_orgs_my_invitations_and_keys(svc):
    """Every list pages (limit, cursor, Link) and returns each row exactly once: the orgs of a member
    of many, the pending invitations of a person invited by many orgs, an org's keys."""
    handles = [f"org{n}" for n in range(5)]
    for handle in handles:
        create(svc, handle)
        sent = svc.request("POST", f"/v1/orgs/{handle}/invitations", {"emails": ["many@example.com"], "role": "viewer"}, actor=OWNER)
        assert sent.status == 201, sent
        assert svc.request("POST", f"/v1/orgs/{handle}/api-keys", {"name": "k", "role": "viewer"}, actor=OWNER).status == 201
    for n in range(4):
        assert svc.request("POST", "/v1/orgs/org0/api-keys", {"name": f"k{n}", "role": "viewer"}, actor=OWNER).status == 201
    orgs = svc.pages("/v1/orgs", "orgs", actor=OWNER, limit=2)
    assert sorted(o["handle"] for o in orgs) == handles and all(o["role"] == "owner" for o in orgs)
    mine = svc.pages("/v1/invitations", "invitations", actor="many@example.com", limit=2)
    assert len(mine) == 5 and len({i["id"] for i in mine}) == 5
    keys = svc.pages("/v1/orgs/org0/api-keys", "api_keys", actor=OWNER, limit=2)
    assert len(keys) == 5 and len({k["id"] for k in keys}) == 5
    for path in ("/v1/orgs", "/v1/invitations", "/v1/orgs/org0/api-keys"):
        problem(svc.request("GET", path + "?cursor=not-an-id", actor=OWNER), 400)


def test_if_match_is_checked_only_once_the_command_is_allowed(svc):
    """A stranger's If-Match gets the stranger's answer (403), not 412 with the org's version."""
    create(svc)
    stranger = svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Mine"}, actor="stranger@example.com", headers={"If-Match": '"99"'})
    problem(stranger, 403, "not_a_member")
    assert stranger.header("etag") is None
    problem(svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Mine"}, actor=OWNER, headers={"If-Match": '"99"'}), 412, "version_mismatch")

"""People and their data (issue #12; product spec sections 7 and 8), against the real binary.

No personal value enters the log; an erasure removes every value of a person from every file of the data
folder (after `compact`) while the chain, old exports and the audit trail stay valid; accounts can be
deleted with a 30-day undo; an erased email comes back only through an operator; request context is
erased after its retention; disclosures check against the log's commitments, with our verifier and with
ten lines of Python.
"""
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import rfc8785

from service import BIN, OWNER, Service, create, importing, problem, reading, stored_bytes, stored_events, stored_table

OPERATOR = "op@example.com"


def run(*args, input=None):
    return subprocess.run([str(BIN / "orgledger"), *args], capture_output=True, text=True, input=input, timeout=120)


def ok(reply, status=200):
    assert reply.status == status, reply
    return reply.json


def export(data, *extra):
    result = run("export", *reading(data), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def start(tmp_path, faketime=None, extra=()):
    return Service(tmp_path, faketime=faketime, extra=("--operator", OPERATOR, *extra)).wait_ready()


def invite_and_join(svc, email, role="member", org="acme", by=OWNER, headers=None):
    sent = ok(svc.request("POST", f"/v1/orgs/{org}/invitations", {"emails": [email], "role": role}, actor=by), 201)
    invitation = sent["invitations"][0]
    ok(svc.request("POST", f"/v1/invitations/{invitation['id']}/accept", actor=email, headers=headers))
    return invitation


def ten_line_check(export_text, disclosure_text=""):
    """The README's check: the chain by sha256 over RFC 8785, each disclosed value against its commitment."""
    prev, events = "0" * 64, {}
    for line in export_text.splitlines():
        e = json.loads(line); h = e.pop("hash")
        assert e["prev_hash"] == prev and hashlib.sha256(rfc8785.dumps(e)).hexdigest() == h, f"chain broken at seq {e['seq']}"
        prev, events[e["seq"]] = h, e
    for line in disclosure_text.splitlines():
        d = json.loads(line); node = events[d["seq"]]
        for part in d["field"].split("/")[1:]: node = node[part.replace("~1", "/").replace("~0", "~")]
        assert hashlib.sha256(b"orgledger/pii/v1\n" + bytes.fromhex(d["salt"]) + d["value"].encode()).hexdigest() == node["c"], d
    return prev


def test_no_personal_value_in_the_log_while_every_view_shows_them(tmp_path):
    svc = start(tmp_path)
    context = {"X-Client-IP": "203.0.113.7", "User-Agent": "Secret-Agent/1.0"}
    try:
        assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER, headers=context).status == 201
        ok(svc.request("PATCH", "/v1/me", {"name": "Olivia Owner", "username": "olivia"}, actor=OWNER, headers=context))
        invite_and_join(svc, "ada@example.com", headers=context)
        ok(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["bob@example.com"], "role": "viewer"}, actor=OWNER, headers=context), 201)
        ok(svc.request("PUT", "/v1/orgs/acme/members/ada@example.com/role", {"role": "moderator"}, actor=OWNER, headers=context))
        ok(svc.request("POST", "/v1/me/email", {"email": "ada.lovelace@example.com"}, actor="ada@example.com", headers=context))
        # Every view shows the people, by their current email.
        members = svc.pages("/v1/orgs/acme/members", "members", actor=OWNER)
        assert sorted(m["email"] for m in members) == ["ada.lovelace@example.com", OWNER]
        assert {m["invited_by"] for m in members} == {None, OWNER}
        pending = svc.pages("/v1/orgs/acme/invitations?status=pending", "invitations", actor=OWNER)
        assert [i["email"] for i in pending] == ["bob@example.com"]
        me = ok(svc.request("GET", "/v1/me", actor=OWNER))
        assert me["user"]["name"] == "Olivia Owner" and me["user"]["username"] == "olivia" and me["user"]["email"] == OWNER
        audit = ok(svc.request("GET", "/v1/orgs/acme/audit", actor=OWNER))["events"]
        assert audit[0]["action"] == "member.role_changed" and audit[0]["target"] == "ada.lovelace@example.com" and audit[0]["actor"] == OWNER
        log = svc.request("GET", "/v1/events").body
    finally:
        svc.stop()
    values = [b"owner@example.com", b"ada@example.com", b"ada.lovelace@example.com", b"bob@example.com", b"Olivia Owner",
              b"203.0.113.7", b"Secret-Agent"]
    stored, exported = stored_events(svc.data), export(svc.data).encode()
    assert b"user.created" in stored and b"usr_" in stored  # the dump is of the events, people as ids
    for value in values:
        assert value not in stored and value not in exported and value not in log, value
    # ... while the values are in the personal-data store beside the log.
    assert b"Olivia Owner" in stored_bytes(svc.data)


def test_erasure_leaves_no_byte_of_the_person_and_the_log_still_verifies(tmp_path):
    svc = start(tmp_path)
    gone = "gone@example.com"
    context = {"X-Client-IP": "198.51.100.23", "User-Agent": "GoneBrowser/9"}
    try:
        create(svc)
        invite_and_join(svc, gone, role="admin", headers=context)
        ok(svc.request("PATCH", "/v1/me", {"name": "Gone Person", "username": "gone-person"}, actor=gone, headers=context))
        key = ok(svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "deploy", "role": "member"}, actor=gone, headers=context), 201)
        ok(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["later@example.com"], "role": "member"}, actor=gone, headers=context), 201)
        before = export(svc.data)
        scheduled = ok(svc.request("POST", "/v1/me/deletion", {"confirm": "GONE@example.com"}, actor=gone), 202)
        assert scheduled["status"] == "pending_deletion" and scheduled["purge_at"]
        # While pending: the keys they made do not verify; they read only /v1/me.
        assert svc.request("POST", "/v1/auth/verify", {"secret": key["secret"]}).status == 401
        listed = ok(svc.request("GET", "/v1/orgs/acme/api-keys", actor=OWNER))["api_keys"]
        assert [(k["status"], k["void_reason"], k["created_by"]) for k in listed] == [("void", "creator_pending_deletion", gone)]
        problem(svc.request("GET", "/v1/orgs/acme", actor=gone), 403, "account_pending_deletion")
        problem(svc.request("GET", "/v1/orgs", actor=gone), 403, "account_pending_deletion")
        problem(svc.request("GET", "/v1/invitations", actor=gone), 403, "account_pending_deletion")
        assert ok(svc.request("GET", "/v1/me", actor=gone))["user"]["status"] == "pending_deletion"
    finally:
        svc.stop()
    later = start(tmp_path, faketime="+31d")  # due events run at start-up: the purge
    try:
        members = later.pages("/v1/orgs/acme/members", "members", actor=OWNER)
        assert [m["email"] for m in members] == [OWNER]
        keys = ok(later.request("GET", "/v1/orgs/acme/api-keys", actor=OWNER))["api_keys"]
        assert [(k["status"], k["created_by"]) for k in keys] == [("revoked", "[erased]")]
        invitations = later.pages("/v1/orgs/acme/invitations", "invitations", actor=OWNER)
        assert {i["email"]: i["status"] for i in invitations} == {"[erased]": "accepted", "later@example.com": "expired"}
        assert next(i for i in invitations if i["email"] == "later@example.com")["invited_by"] == "[erased]"
        audit = later.pages("/v1/orgs/acme/audit", "events", actor=OWNER)
        # The purge: the member removed and their key revoked, by system; what they did, by [erased].
        assert [e["action"] for e in audit[:2]] == ["api_key.revoked", "member.removed"]
        removed = audit[1]
        assert removed["target"] == "[erased]" and removed["actor"] == "system" and removed["data"]["reason"] == "account_deleted"
        assert removed["data"]["email"] == "[erased]" and removed["target_id"].startswith("usr_")
        sent = next(e for e in audit if e["action"] == "invitation.sent" and e["data"]["email"] == "later@example.com")
        assert sent["actor"] == "[erased]" and sent["actor_id"] == removed["target_id"]
        problem(later.request("GET", f"/v1/admin/users/{gone}", actor=OPERATOR), 404, "user_not_found")
        as_of = later.pages(f"/v1/orgs/acme/members?as_of={json.loads(before.splitlines()[-1])['seq']}", "members", actor=OWNER)
        assert sorted(m["email"] for m in as_of) == ["[erased]", OWNER], "as_of views show [erased] too"
        erased = [json.loads(line) for line in later.request("GET", "/v1/events").body.splitlines() if b"user.erased" in line]
        assert len(erased) == 1 and erased[0]["actor"] == "system" and erased[0]["data"] == {}
    finally:
        later.stop()
    verified = run("verify", *reading(later.data))
    assert verified.returncode == 0, verified.stderr
    everything = stored_bytes(later.data, compacted=True)
    assert b"owner@example.com" in everything  # the search finds what is still held...
    for value in (b"gone@example.com", b"Gone Person", b"gone-person", b"198.51.100.23", b"GoneBrowser"):
        assert value not in everything, value  # ... and nothing of the erased person
    assert run("verify", *reading(later.data)).returncode == 0
    # An export from before the erasure still verifies, and the log still holds its very events.
    path = tmp_path / "before.ndjson"
    path.write_text(before)
    old = run("verify", "--export", str(path))
    assert old.returncode == 0, old.stderr
    now = export(later.data).splitlines()
    assert now[: len(before.splitlines())] == before.splitlines()
    assert ten_line_check(before) == json.loads(before.splitlines()[-1])["hash"]


def test_deletion_is_undone_within_30_days_and_refused_to_a_sole_owner(tmp_path):
    svc = start(tmp_path)
    try:
        create(svc)
        invite_and_join(svc, "co@example.com", role="admin")
        doc = problem(svc.request("POST", "/v1/me/deletion", {"confirm": OWNER}, actor=OWNER), 409, "sole_owner")
        assert doc["orgs"] == ["acme"]
        problem(svc.request("POST", "/v1/me/deletion", {"confirm": "someone@example.com"}, actor="co@example.com"), 400, "confirmation_mismatch")
        ok(svc.request("POST", "/v1/me/deletion", {"confirm": "co@example.com"}, actor="co@example.com"), 202)
    finally:
        svc.stop()
    day29 = start(tmp_path, faketime="+29d")
    try:
        assert ok(day29.request("DELETE", "/v1/me/deletion", actor="co@example.com"))["status"] == "active"
        assert [m["email"] for m in day29.pages("/v1/orgs/acme/members", "members", actor=OWNER)].count("co@example.com") == 1
        # Scheduled again: now 30 days from day 29.
        purge_at = ok(day29.request("POST", "/v1/me/deletion", {"confirm": "co@example.com"}, actor="co@example.com"), 202)["purge_at"]
    finally:
        day29.stop()
    day31 = start(tmp_path, faketime="+31d")
    try:
        assert ok(day31.request("GET", "/v1/me", actor="co@example.com"))["user"]["purge_at"] == purge_at  # not yet
    finally:
        day31.stop()
    day60 = start(tmp_path, faketime="+60d")
    try:
        assert [m["email"] for m in day60.pages("/v1/orgs/acme/members", "members", actor=OWNER)] == [OWNER]
        problem(day60.request("GET", "/v1/me", actor="co@example.com"), 404, "user_not_found")
    finally:
        day60.stop()


def test_an_erased_email_comes_back_only_through_an_operator(tmp_path):
    svc = start(tmp_path)
    try:
        create(svc)
        old_id = invite_and_join(svc, "back@example.com")["user_id"]
        ok(svc.request("POST", "/v1/me/deletion", {"confirm": "back@example.com"}, actor="back@example.com"), 202)
    finally:
        svc.stop()
    later = start(tmp_path, faketime="+31d")
    try:
        # The first command by the erased email makes a new user, who waits for an operator.
        fresh = ok(later.request("PATCH", "/v1/me", {"name": "Back Again"}, actor="back@example.com"))
        assert fresh["status"] == "activation_required" and fresh["id"] != old_id and fresh["name"] == "Back Again"
        problem(later.request("POST", "/v1/orgs", {"handle": "backs", "display_name": "Backs"}, actor="back@example.com"), 403, "activation_required")
        problem(later.request("GET", "/v1/orgs/acme", actor="back@example.com"), 403, "activation_required")
        problem(later.request("POST", "/v1/admin/users/back@example.com/activate", actor=OWNER), 403, "not_operator")
        problem(later.request("GET", "/v1/admin/users/back@example.com", actor="back@example.com"), 403, "not_operator")
        standing = ok(later.request("GET", "/v1/admin/users/BACK@example.com", actor=OPERATOR))
        assert standing["status"] == "activation_required" and "name" not in standing
        assert ok(later.request("POST", "/v1/admin/users/back@example.com/activate", actor=OPERATOR))["status"] == "active"
        problem(later.request("POST", "/v1/admin/users/back@example.com/activate", actor=OPERATOR), 409, "not_activation_required")
        assert later.request("POST", "/v1/orgs", {"handle": "backs", "display_name": "Backs"}, actor="back@example.com").status == 201
        # A new email never needs activation.
        assert ok(later.request("PATCH", "/v1/me", {"name": "New"}, actor="new@example.com"))["status"] == "active"
    finally:
        later.stop()


def test_an_email_change_moves_memberships_keys_and_invitations(tmp_path):
    svc = start(tmp_path)
    try:
        create(svc)
        create(svc, "beta")
        invite_and_join(svc, "ada@example.com", role="admin")
        ok(svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "ada-key", "role": "member"}, actor="ada@example.com"), 201)
        pending = ok(svc.request("POST", "/v1/orgs/beta/invitations", {"emails": ["ada@example.com"], "role": "viewer"}, actor=OWNER), 201)
        invite_and_join(svc, "bob@example.com")
        problem(svc.request("POST", "/v1/me/email", {"email": "bob@example.com"}, actor="ada@example.com"), 409, "email_taken")
        ok(svc.request("POST", "/v1/me/email", {"email": "Ada2@Example.com"}, actor="ada@example.com"))
        members = {m["email"]: m["role"] for m in svc.pages("/v1/orgs/acme/members", "members", actor=OWNER)}
        assert members.get("ada2@example.com") == "admin" and "ada@example.com" not in members
        keys = ok(svc.request("GET", "/v1/orgs/acme/api-keys", actor="ada2@example.com"))["api_keys"]
        assert [k["created_by"] for k in keys] == ["ada2@example.com"] and keys[0]["status"] == "active"
        mine = ok(svc.request("GET", "/v1/invitations", actor="ada2@example.com"))["invitations"]
        assert [i["id"] for i in mine] == [pending["invitations"][0]["id"]] and mine[0]["email"] == "ada2@example.com"
        me = ok(svc.request("GET", "/v1/me", actor="ada2@example.com"))
        assert {m["handle"] for m in me["memberships"]} == {"acme"} and len(me["invitations"]) == 1
        # The old email is free: someone else who takes it is a new user with none of that.
        problem(svc.request("GET", "/v1/me", actor="ada@example.com"), 404, "user_not_found")
        newcomer = ok(svc.request("PATCH", "/v1/me", {"name": "Someone Else"}, actor="ada@example.com"))
        assert newcomer["id"] != me["user"]["id"] and newcomer["status"] == "active"
        assert ok(svc.request("GET", "/v1/orgs", actor="ada@example.com"))["orgs"] == []
        assert ok(svc.request("GET", "/v1/invitations", actor="ada@example.com"))["invitations"] == []
        # Only the invitee (by id) answers the invitation sent to the old email.
        problem(svc.request("POST", f"/v1/invitations/{mine[0]['id']}/accept", actor="ada@example.com"), 403, "not_invitee")
        ok(svc.request("POST", f"/v1/invitations/{mine[0]['id']}/accept", actor="ada2@example.com"))
    finally:
        svc.stop()


def test_request_context_is_erased_after_its_retention_and_commitments_still_verify(tmp_path):
    svc = start(tmp_path)
    context = {"X-Client-IP": "192.0.2.99", "User-Agent": "Retained/2.0"}
    try:
        assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER, headers=context).status == 201
        ok(svc.request("PATCH", "/v1/me", {"name": "Kept Name"}, actor=OWNER, headers=context))
    finally:
        svc.stop()
    fields = lambda text: sorted({json.loads(line)["field"] for line in text.splitlines()})
    disclosed = tmp_path / "before.disclosure"
    export(svc.data, "--disclose", str(disclosed))
    assert fields(disclosed.read_text()) == ["/data/changes/name", "/data/email", "/meta/client_ip", "/meta/user_agent"]
    later = start(tmp_path, faketime="+91d")
    try:
        events = [json.loads(line) for line in later.request("GET", "/v1/events").body.splitlines()]
    finally:
        later.stop()
    erased = [e for e in events if e["type"] == "ledger.request_context_erased"]
    assert len(erased) == 1 and erased[0]["stream"] == "ledger" and erased[0]["actor"] == "system"
    assert erased[0]["data"]["count"] == 8 and erased[0]["data"]["before_seq"] == erased[0]["seq"]  # 4 events × IP and agent
    after = tmp_path / "after.disclosure"
    log = export(later.data, "--disclose", str(after))
    assert fields(after.read_text()) == ["/data/changes/name", "/data/email"], "no IP or user agent is held"
    export_file = tmp_path / "export.ndjson"
    export_file.write_text(log)
    checked = run("verify", "--export", str(export_file), "--disclosure", str(after))
    assert checked.returncode == 0 and "2 disclosed values open their commitments" in checked.stdout, checked.stderr  # the email, the name
    # The old disclosure still opens the commitments the log kept (the erased values were erased from the
    # store, not from anyone's copy).
    assert run("verify", "--export", str(export_file), "--disclosure", str(disclosed)).returncode == 0
    everything = stored_bytes(later.data, compacted=True)
    assert b"Kept Name" in everything and b"192.0.2.99" not in everything and b"Retained/2.0" not in everything


def test_a_disclosure_with_one_value_changed_fails_naming_its_seq_and_field(tmp_path):
    svc = start(tmp_path)
    try:
        assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER, headers={"User-Agent": "Honest/1"}).status == 201
        invite_and_join(svc, "ada@example.com")
    finally:
        svc.stop()
    disclosure = tmp_path / "d.ndjson"
    log = export(svc.data, "--disclose", str(disclosure))
    export_file = tmp_path / "export.ndjson"
    export_file.write_text(log)
    assert ten_line_check(log, disclosure.read_text()) == json.loads(log.splitlines()[-1])["hash"]
    good = run("verify", "--export", str(export_file), "--disclosure", str(disclosure))
    assert good.returncode == 0, good.stderr
    lines = disclosure.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if json.loads(line)["value"] == "ada@example.com")
    forged = json.loads(lines[target])
    lines[target] = json.dumps(dict(forged, value="eve@example.com"))
    altered = tmp_path / "altered.ndjson"
    altered.write_text("\n".join(lines) + "\n")
    bad = run("verify", "--export", str(export_file), "--disclosure", str(altered))
    assert bad.returncode == 1
    assert f"seq {forged['seq']}" in bad.stderr and f"field {forged['field']}" in bad.stderr, bad.stderr
    with pytest.raises(AssertionError):
        ten_line_check(log, altered.read_text())
    # The export alone names no one; the disclosure file is not readable by others.
    assert b"ada@example.com" not in log.encode() and oct(os.stat(disclosure).st_mode & 0o777) == "0o600"


def test_a_ledger_moves_with_its_export_disclosure_and_instance_key(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    svc = start(source)
    try:
        create(svc)
        invite_and_join(svc, "ada@example.com", role="admin")
        ok(svc.request("PATCH", "/v1/me", {"name": "Ada Lovelace", "username": "ada"}, actor="ada@example.com", headers={"X-Client-IP": "192.0.2.5"}))
        ok(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["bob@example.com"], "role": "viewer"}, actor="ada@example.com"), 201)
        members_before = sorted((m["email"], m["role"]) for m in svc.pages("/v1/orgs/acme/members", "members", actor=OWNER))
    finally:
        svc.stop()
    disclosure = tmp_path / "values.ndjson"
    log = export(svc.data, "--disclose", str(disclosure))
    head = json.loads(log.splitlines()[-1])["hash"]
    # A disclosure that does not open its commitment is refused, naming it, and leaves nothing behind.
    lines = disclosure.read_text().splitlines()
    bad = json.loads(lines[0])
    altered = tmp_path / "altered.ndjson"
    altered.write_text("\n".join([json.dumps(dict(bad, value=bad["value"] + "x"))] + lines[1:]) + "\n")
    refused = run("import", "--data", str(tmp_path / "refused"), "--disclosure", str(altered), input=log)
    assert refused.returncode == 1 and f"seq {bad['seq']}, field {bad['field']}" in refused.stderr, refused.stderr
    assert not (tmp_path / "refused" / "data.mdb").exists() and not (tmp_path / "refused" / "instance.key").exists()
    # The export, its disclosure and the instance key make the same ledger elsewhere.
    moved = tmp_path / "moved"
    result = run("import", *importing(moved, svc.data / "instance.key"), "--disclosure", str(disclosure), input=log)
    assert result.returncode == 0 and head in result.stdout, result.stderr
    assert (moved / "instance.key").read_bytes() == (svc.data / "instance.key").read_bytes()
    assert oct(os.stat(moved / "instance.key").st_mode & 0o777) == "0o600"
    assert run("verify", *reading(moved)).returncode == 0
    again = Service(tmp_path, data=moved, sock=tmp_path / "moved.sock").wait_ready()
    try:
        assert sorted((m["email"], m["role"]) for m in again.pages("/v1/orgs/acme/members", "members", actor=OWNER)) == members_before
        me = ok(again.request("GET", "/v1/me", actor="ada@example.com"))
        assert me["user"]["name"] == "Ada Lovelace" and me["user"]["username"] == "ada" and [m["handle"] for m in me["memberships"]] == ["acme"]
        assert [i["email"] for i in again.pages("/v1/orgs/acme/invitations", "invitations", actor="ada@example.com") if i["status"] == "pending"] == ["bob@example.com"]
        # The people are the same users: their emails still find them, and they act as before.
        problem(again.request("PATCH", "/v1/me", {"username": "ada"}, actor="bob@example.com"), 409, "username_taken")
        assert again.request("POST", "/v1/orgs/acme/invitations", {"emails": ["carol@example.com"], "role": "member"}, actor="ada@example.com").status == 201
    finally:
        again.stop()
    moved_disclosure = tmp_path / "moved-values.ndjson"
    export(moved, "--disclose", str(moved_disclosure))
    assert moved_disclosure.read_text().splitlines()[: len(lines)] == lines


def test_a_new_users_first_command_replays_and_no_key_holds_their_email(tmp_path):
    svc = start(tmp_path)
    headers = {"Idempotency-Key": "first-1"}
    try:
        first = svc.request("POST", "/v1/orgs", {"handle": "fresh", "display_name": "Fresh"}, actor="new@example.com", headers=headers)
        again = svc.request("POST", "/v1/orgs", {"handle": "fresh", "display_name": "Fresh"}, actor="new@example.com", headers=headers)
        assert first.status == again.status == 201 and again.header("idempotent-replayed") == "true" and again.json == first.json
        refused = svc.request("POST", "/v1/orgs/fresh/invitations", {"emails": ["x@example.com"], "role": "member"}, actor="stranger@example.com",
                              headers={"Idempotency-Key": "s-1"})
        problem(refused, 403, "not_a_member")
        replayed = svc.request("POST", "/v1/orgs/fresh/invitations", {"emails": ["x@example.com"], "role": "member"}, actor="stranger@example.com",
                               headers={"Idempotency-Key": "s-1"})
        assert replayed.status == 403 and replayed.header("idempotent-replayed") == "true"
    finally:
        svc.stop()
    # Kept replies are keyed by user id, or a keyed hash of an email that is no one's: never the email.
    dump = stored_table(svc.data, "idempotency")
    assert b"first-1" in dump and b"s-1" in dump
    assert b"new@example.com" not in dump and b"stranger@example.com" not in dump


def test_a_log_without_its_instance_key_is_refused(tmp_path):
    svc = start(tmp_path)
    try:
        create(svc)
    finally:
        svc.stop()
    (svc.data / "instance.key").rename(tmp_path / "kept.key")
    refused = Service(tmp_path, sock=tmp_path / "again.sock")
    assert refused.process.wait(timeout=30) == 1
    assert "instance.key" in refused.output() and not (svc.data / "instance.key").exists()

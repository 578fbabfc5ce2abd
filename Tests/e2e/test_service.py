"""The whole lifecycle of product spec §3 over the socket, against the real binary."""
import json
import re
import os
import signal
import stat
import subprocess
import time

import pytest

from service import BIN, OWNER, Service, create, problem, reading, stored_bytes


def test_socket_is_private_and_health_answers(svc):
    mode = stat.S_IMODE(os.stat(svc.sock).st_mode)
    assert mode == 0o600
    health = svc.request("GET", "/v1/health")
    assert health.status == 200 and health.json["status"] == "ok" and health.json["head_seq"] == 0


def test_create_read_update_with_etag_and_if_match(svc):
    org = create(svc)
    assert org["handle"] == "acme" and org["member_count"] == 1 and org["status"] == "active"
    got = svc.request("GET", "/v1/orgs/acme", actor=OWNER)
    assert got.status == 200 and got.header("etag") == '"2"'
    assert svc.request("GET", f"/v1/orgs/{org['id']}", actor=OWNER).json == got.json
    stale = svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Acme Rockets"}, actor=OWNER, headers={"If-Match": '"1"'})
    problem(stale, 412, "version_mismatch")
    ok = svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Acme Rockets", "avatar_url": "https://cdn.example.com/a.png"}, actor=OWNER, headers={"If-Match": '"2"'})
    assert ok.status == 200 and ok.json["display_name"] == "Acme Rockets" and ok.header("etag") == '"3"'
    mine = svc.request("GET", "/v1/orgs", actor=OWNER).json["orgs"]
    assert [(o["handle"], o["role"]) for o in mine] == [("acme", "owner")]


def test_invitations_roles_and_the_last_owner(svc):
    create(svc)
    sent = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["Ada@Example.com", "bob@example.com", "ada@example.com"], "role": "admin"}, actor=OWNER)
    assert sent.status == 201, sent
    invitations = sent.json["invitations"]
    assert sorted(i["email"] for i in invitations) == ["ada@example.com", "bob@example.com"]
    ada_inv = next(i for i in invitations if i["email"] == "ada@example.com")
    bob_inv = next(i for i in invitations if i["email"] == "bob@example.com")
    assert [i["id"] for i in svc.request("GET", "/v1/invitations", actor="ada@example.com").json["invitations"]] == [ada_inv["id"]]
    problem(svc.request("POST", f"/v1/invitations/{ada_inv['id']}/accept", actor="bob@example.com"), 403, "not_invitee")
    accepted = svc.request("POST", f"/v1/invitations/{ada_inv['id']}/accept", actor="ada@example.com")
    assert accepted.status == 200 and accepted.json["member"]["role"] == "admin"
    problem(svc.request("POST", f"/v1/invitations/{ada_inv['id']}/accept", actor="ada@example.com"), 410, "invitation_not_pending")
    assert svc.request("POST", f"/v1/invitations/{bob_inv['id']}/decline", actor="bob@example.com").status == 200
    problem(svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["x@example.com"], "role": "owner"}, actor=OWNER), 403)
    # Roles: nobody raises their own; the last owner cannot go.
    problem(svc.request("PUT", "/v1/orgs/acme/members/ada@example.com/role", {"role": "owner"}, actor="ada@example.com"), 403, "cannot_raise_own_role")
    problem(svc.request("DELETE", f"/v1/orgs/acme/members/{OWNER}", actor=OWNER), 409, "last_owner")
    problem(svc.request("PUT", f"/v1/orgs/acme/members/{OWNER}/role", {"role": "admin"}, actor=OWNER), 409, "last_owner")
    promoted = svc.request("PUT", "/v1/orgs/acme/members/ada@example.com/role", {"role": "owner"}, actor=OWNER)
    assert promoted.status == 200 and promoted.json["role"] == "owner"
    left = svc.request("DELETE", f"/v1/orgs/acme/members/{OWNER}", actor=OWNER)
    assert left.status == 200 and left.json["event"] == "member.left"
    members = svc.request("GET", "/v1/orgs/acme/members", actor="ada@example.com").json["members"]
    assert [(m["email"], m["role"]) for m in members] == [("ada@example.com", "owner")]


def test_suspension_keeps_the_role_and_removes_every_permission(svc):
    create(svc)
    inv = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["mod@example.com"], "role": "moderator"}, actor=OWNER).json["invitations"][0]
    svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="mod@example.com")
    suspended = svc.request("POST", "/v1/orgs/acme/members/mod@example.com/suspend", actor=OWNER)
    assert suspended.status == 200 and suspended.json == {**suspended.json, "role": "moderator", "status": "suspended"}
    problem(svc.request("GET", "/v1/orgs/acme/invitations", actor="mod@example.com"), 403, "suspended")
    problem(svc.request("POST", "/v1/orgs/acme/members/mod@example.com/suspend", actor=OWNER), 409, "already_suspended")
    reinstated = svc.request("POST", "/v1/orgs/acme/members/mod@example.com/reinstate", actor=OWNER)
    assert reinstated.json["status"] == "active" and reinstated.json["role"] == "moderator"
    assert svc.request("GET", "/v1/orgs/acme/invitations", actor="mod@example.com").status == 200


def test_api_keys_verify_and_auth_reset(svc):
    create(svc)
    created = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "deploy", "role": "admin"}, actor=OWNER)
    assert created.status == 201, created
    key = created.json
    assert key["secret"].startswith("olk_")
    listed = svc.request("GET", "/v1/orgs/acme/api-keys", actor=OWNER).json["api_keys"]
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    verified = svc.request("POST", "/v1/auth/verify", {"secret": key["secret"]})
    assert verified.status == 200 and verified.json == {"org": key["org_id"], "handle": "acme", "key_id": key["id"], "role": "admin"}
    problem(svc.request("POST", "/v1/auth/verify", {"secret": "olk_wrong"}), 401)
    reset = svc.request("POST", "/v1/orgs/acme/auth/reset", actor=OWNER)
    assert reset.status == 200 and reset.json == {"auth_epoch": 1, "voided_keys": [key["id"]]}
    problem(svc.request("POST", "/v1/auth/verify", {"secret": key["secret"]}), 401)
    # The secret is nowhere in the data folder, an export, the service's output or /metrics.
    assert key["secret"].encode() not in stored_bytes(svc.data)
    exported = subprocess.run([str(BIN / "orgledger"), "export", *reading(svc.data)], capture_output=True, text=True, check=True).stdout
    assert key["secret"] not in exported and key["id"] in exported
    assert key["secret"] not in svc.output()
    assert key["secret"] not in svc.request("GET", "/metrics").body.decode()


def test_rename_answers_308_from_the_old_handle(svc):
    create(svc)
    renamed = svc.request("POST", "/v1/orgs/acme/handle", {"handle": "acme-labs"}, actor=OWNER)
    assert renamed.status == 200 and renamed.json["handle"] == "acme-labs"
    moved = svc.request("GET", "/v1/orgs/acme/members?role=owner", actor=OWNER)
    assert moved.status == 308 and moved.header("location") == "/v1/orgs/acme-labs/members?role=owner"
    # The former handle percent-encoded: the same redirect, not one to itself.
    encoded = svc.request("GET", "/v1/orgs/%61cme/members", actor=OWNER)
    assert encoded.status == 308 and encoded.header("location") == "/v1/orgs/acme-labs/members"
    problem(svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Copycat"}, actor="b@example.com"), 409, "handle_taken")


def test_deletion_needs_the_handle_and_can_be_canceled(svc):
    org = create(svc)
    problem(svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "ACME"}, actor=OWNER), 400, "confirmation_mismatch")
    scheduled = svc.request("POST", "/v1/orgs/acme/deletion", {"confirm": "acme"}, actor=OWNER)
    assert scheduled.status == 202 and scheduled.json["status"] == "pending_deletion" and scheduled.json["purge_at"]
    problem(svc.request("PATCH", "/v1/orgs/acme", {"display_name": "X"}, actor=OWNER), 409, "pending_deletion")
    assert svc.request("GET", "/v1/orgs/acme", actor=OWNER).status == 200  # reads still work
    canceled = svc.request("DELETE", "/v1/orgs/acme/deletion", actor=OWNER)
    assert canceled.status == 200 and canceled.json["status"] == "active" and canceled.json["purge_at"] is None


def test_every_error_status_has_a_problem_document(svc):
    create(svc)
    problem(svc.request("POST", "/v1/orgs", {"handle": "bad handle", "display_name": ""}, actor=OWNER), 400, "invalid_input")
    doc = problem(svc.request("POST", "/v1/orgs", {"handle": "bad handle", "display_name": ""}, actor=OWNER), 400)
    assert {e["field"] for e in doc["errors"]} == {"handle", "display_name"}
    problem(svc.request("POST", "/v1/orgs", raw=b'{"handle": "x",', actor=OWNER), 400, "malformed_json")
    problem(svc.request("GET", "/v1/orgs/acme"), 401, "no_actor")
    problem(svc.request("GET", "/v1/orgs/acme", actor="system"), 403, "system_actor")
    problem(svc.request("GET", "/v1/orgs/acme/audit", actor="stranger@example.com"), 403, "not_a_member")
    problem(svc.request("GET", "/v1/orgs/nope", actor=OWNER), 404)
    problem(svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Again"}, actor=OWNER), 409, "handle_taken")
    problem(svc.request("POST", "/v1/orgs", raw=b"handle=acme", actor=OWNER, content_type="application/x-www-form-urlencoded"), 415)
    problem(svc.request("POST", "/v1/orgs", raw=b'{"handle":"' + b"a" * (1 << 20) + b'"}', actor=OWNER), 413)
    inv = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["late@example.com"], "role": "member", "ttl_days": 1}, actor=OWNER).json["invitations"][0]
    svc.request("DELETE", f"/v1/orgs/acme/invitations/{inv['id']}", actor=OWNER)
    problem(svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="late@example.com"), 410, "invitation_not_pending")
    # create (user.created, org.created, member.joined), invite (user.created, invitation.sent),
    # revoke: no refusal wrote anything
    assert svc.request("GET", "/v1/health").json["head_seq"] == 6


def test_idempotency_key_replays_the_first_response(svc):
    create(svc)
    headers = {"Idempotency-Key": "k-1", "X-Request-Id": "req-42", "User-Agent": "e2e/1"}
    first = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["ada@example.com"], "role": "member"}, actor=OWNER, headers=headers)
    head = svc.request("GET", "/v1/health").json["head_seq"]
    again = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["ada@example.com"], "role": "member"}, actor=OWNER, headers=headers)
    assert again.status == first.status == 201 and again.json == first.json and again.header("idempotent-replayed") == "true"
    assert svc.request("GET", "/v1/health").json["head_seq"] == head
    events = [json.loads(line) for line in svc.request("GET", "/v1/events?after=3").body.splitlines()]
    # ada's user.created and the invitation carry the request's context; the user agent, a personal
    # value, only as a commitment.
    assert [e["type"] for e in events] == ["user.created", "invitation.sent"]
    meta = events[1]["meta"]
    assert set(meta) == {"idempotency_key", "request_id", "user_agent"}
    assert meta["idempotency_key"] == "k-1" and meta["request_id"] == "req-42"
    assert set(meta["user_agent"]) == {"c"} and re.fullmatch(r"[0-9a-f]{64}", meta["user_agent"]["c"])
    assert b"e2e/1" not in svc.request("GET", "/v1/events").body


def test_audit_in_three_formats_and_time_travel(svc):
    create(svc)
    svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Second"}, actor=OWNER)
    svc.request("PATCH", "/v1/orgs/acme", {"display_name": "Third"}, actor=OWNER)
    page = svc.request("GET", "/v1/orgs/acme/audit?limit=2", actor=OWNER)
    # seq 1 is the owner's user.created, not in the org's trail.
    assert [e["seq"] for e in page.json["events"]] == [5, 4] and page.json["next_cursor"] == "4"
    rest = svc.request("GET", "/v1/orgs/acme/audit?limit=2&cursor=4", actor=OWNER).json
    assert [e["seq"] for e in rest["events"]] == [3, 2] and rest["next_cursor"] is None
    assert {e["actor"] for e in page.json["events"] + rest["events"]} == {OWNER}
    ndjson = svc.request("GET", "/v1/orgs/acme/audit?format=ndjson&action=org.profile_updated", actor=OWNER)
    assert ndjson.header("content-type") == "application/x-ndjson" and len(ndjson.body.splitlines()) == 2
    csv = svc.request("GET", "/v1/orgs/acme/audit?format=csv", actor=OWNER).body.decode()
    assert csv.splitlines()[0] == "seq,at,actor,action,target,data" and len(csv.splitlines()) == 5
    assert svc.request("GET", "/v1/orgs/acme?as_of=4", actor=OWNER).json["display_name"] == "Second"
    assert svc.request("GET", "/v1/orgs/acme?as_of=2", actor=OWNER).json["member_count"] == 0


@pytest.mark.data_folder
def test_second_serve_refuses_and_the_first_keeps_answering(svc, tmp_path):
    same_folder = Service(tmp_path, data=svc.data, sock=tmp_path / "other.sock")
    assert same_folder.process.wait(timeout=30) != 0
    same_socket = Service(tmp_path, data=tmp_path / "other-data", sock=svc.sock)
    assert same_socket.process.wait(timeout=30) != 0
    assert svc.request("GET", "/v1/health").status == 200


def test_graceful_stop_removes_the_socket_and_a_stale_one_is_replaced(tmp_path):
    first = Service(tmp_path).wait_ready()
    create(first)
    assert first.stop(signal.SIGTERM) == 0
    assert not os.path.exists(first.sock)
    crashed = Service(tmp_path).wait_ready()
    crashed.stop(signal.SIGKILL)
    assert os.path.exists(crashed.sock)  # left behind
    again = Service(tmp_path).wait_ready()
    assert again.request("GET", "/v1/orgs/acme", actor=OWNER).status == 200
    again.stop()


def test_purge_happens_when_the_clock_is_31_days_ahead(tmp_path):
    first = Service(tmp_path).wait_ready()
    create(first)
    assert first.request("POST", "/v1/orgs/acme/deletion", {"confirm": "acme"}, actor=OWNER).status == 202
    first.stop()
    later = Service(tmp_path, faketime="+31d").wait_ready()
    try:
        problem(later.request("GET", "/v1/orgs/acme", actor=OWNER), 404)
        events = [json.loads(line) for line in later.request("GET", "/v1/events").body.splitlines()]
        assert events[-1]["type"] == "org.purged" and events[-1]["actor"] == "system"
        assert create(later, "acme", actor="new@example.com")["handle"] == "acme"  # the handle is free
    finally:
        later.stop()


def test_metrics_count_requests_by_route_and_never_show_a_secret(svc):
    create(svc)
    secret = svc.request("POST", "/v1/orgs/acme/api-keys", {"name": "ci", "role": "viewer"}, actor=OWNER).json["secret"]
    svc.request("POST", "/v1/auth/verify", {"secret": secret})
    text = svc.request("GET", "/metrics").body.decode()
    assert 'hb_requests{http_route="/v1/orgs",http_request_method="POST",http_response_status_code="201"} 1' in text
    assert "http_server_request_duration_bucket" in text
    assert "orgledger_log_head_seq 4.0" in text  # user.created, org.created, member.joined, api_key.created
    assert 'orgledger_commands_total{outcome="applied"} 2' in text
    assert "orgledger_events_appended_total 3" in text  # the org's events; the log's count is the head
    assert "orgledger_commit_batch_size_bucket" in text
    assert secret not in text
    assert secret not in svc.output()


def test_an_expired_invitation_answers_410(tmp_path):
    first = Service(tmp_path).wait_ready()
    create(first)
    inv = first.request("POST", "/v1/orgs/acme/invitations", {"emails": ["late@example.com"], "role": "member", "ttl_days": 1}, actor=OWNER).json["invitations"][0]
    first.stop()
    later = Service(tmp_path, faketime="+2d").wait_ready()
    try:
        problem(later.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="late@example.com"), 410, "invitation_expired")
        statuses = [i["status"] for i in later.request("GET", "/v1/orgs/acme/invitations", actor=OWNER).json["invitations"]]
        assert statuses == ["expired"]  # appended by the due events run at start-up
    finally:
        later.stop()


def test_listen_adds_a_loopback_tcp_listener(tmp_path):
    import http.client
    import socket as sockets
    probe = sockets.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    svc = Service(tmp_path, extra=("--listen", f"127.0.0.1:{port}")).wait_ready()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/v1/health")
        assert connection.getresponse().status == 200
    finally:
        svc.stop()
    refused = subprocess.run([str(BIN / "orgledger"), "serve", "--data", str(tmp_path / "d2"), "--socket", str(tmp_path / "s2"), "--listen", "0.0.0.0:9"], capture_output=True, text=True)
    assert refused.returncode != 0 and "loopback" in refused.stderr


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"this test needs to mount a small tmpfs (root): {result.stderr}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)])


@pytest.mark.data_folder
def test_a_full_disk_answers_507_reads_keep_working_and_writes_resume(tmp_path, small_disk):
    svc = Service(tmp_path, data=small_disk / "data").wait_ready()
    try:
        create(svc)
        # Leave about 200 KB free, then write until the disk is full.
        filler = small_disk / "filler"
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 200_000))
        acknowledged, full = 0, None
        for n in range(2000):
            reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [f"user{n}@example.com"], "role": "member"}, actor=OWNER)
            if reply.status == 201:
                acknowledged += 1
            else:
                full = reply
                break
        assert full is not None, "the disk never filled"
        problem(full, 507, "disk_full")
        assert svc.request("GET", "/v1/orgs/acme", actor=OWNER).status == 200  # reads keep working
        # Nothing acknowledged is lost, nothing half-written: create wrote 3 events, each invitation 2
        # (the invitee's user.created and invitation.sent).
        assert svc.request("GET", "/v1/health").json["head_seq"] == 3 + 2 * acknowledged
        filler.unlink()
        resumed = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["after@example.com"], "role": "member"}, actor=OWNER)
        assert resumed.status == 201, resumed
    finally:
        svc.stop()
    verify = subprocess.run([str(BIN / "orgledger"), "verify", "--data", str(small_disk / "data")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr


def test_metrics_have_help_lines_and_count_every_error_answer(svc):
    create(svc)
    svc.request("GET", "/v1/orgs/nope", actor=OWNER)  # 404 from a route
    svc.request("GET", "/v1/no-such-route")  # 404 from the router
    svc.request("POST", "/v1/orgs", {"handle": "admin", "display_name": "X"}, actor=OWNER)  # 400
    svc.request("DELETE", "/v1/health")  # 405
    lines = svc.request("GET", "/metrics").body.decode().splitlines()
    types = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    helps = {line.split()[2] for line in lines if line.startswith("# HELP ") and len(line.split()) > 3}
    assert types and [name for name in types if name not in helps] == []
    text = "\n".join(lines)
    assert 'orgledger_http_errors_total{status="404"} 2' in text
    assert 'orgledger_http_errors_total{status="400"} 1' in text
    assert 'orgledger_http_errors_total{status="405"} 1' in text

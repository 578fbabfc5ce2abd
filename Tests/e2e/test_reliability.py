"""Reliability over the socket (issue #6, first part): SIGKILL under load, a sweep of hostile input,
racing conflicting commands."""
import http.client
import json
import random
import socket
import subprocess
import threading
import time

import pytest

from service import BIN, Service, UnixConnection, reading

OWNER = "owner@example.com"


def verify(data):
    result = subprocess.run([str(BIN / "orgledger"), "verify", *reading(data)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sigkill_under_load_loses_nothing_answered(tmp_path):
    svc = Service(tmp_path).wait_ready()
    assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER).status == 201
    answered = []  # (email, invitation id) for every 201
    lock = threading.Lock()
    for round_number in range(3):
        stop = threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                email = f"r{round_number}-c{n}-{i}@example.com"
                i += 1
                try:
                    reply = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": [email], "role": "member"}, actor=OWNER)
                except (OSError, http.client.HTTPException):
                    return  # the service died under us: this command was not answered
                if reply.status == 201:
                    with lock:
                        answered.append((email, reply.json["invitations"][0]["id"]))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        time.sleep(0.5 + random.random())
        svc.stop(signal_kill())
        stop.set()
        for t in threads:
            t.join(timeout=30)
        svc = Service(tmp_path).wait_ready()
        check_after_restart(svc, answered)
    try:
        assert len(answered) > 100
    finally:
        svc.stop()
    assert "every view equals a fresh replay" in verify(svc.data)


def check_after_restart(svc, answered):
    """Every answered invitation is in the view and the log; the log and the view agree; verify passes
    (verify reads the folder while the service runs)."""
    listed = {i["id"]: i["email"] for i in svc.pages("/v1/orgs/acme/invitations", "invitations", actor=OWNER, limit=1000)}
    missing = [(e, i) for e, i in answered if listed.get(i) != e]
    assert missing == [], f"{len(missing)} answered invitations are gone"
    events, after = [], 0
    while True:  # every page of the log (each invitation of a new email is two events: user.created and invitation.sent)
        page = [json.loads(l) for l in svc.request("GET", f"/v1/events?after={after}&limit=10000").body.splitlines()]
        events += page
        if len(page) < 10000:
            break
        after = page[-1]["seq"]
    sent = {e["data"]["invitation_id"] for e in events if e["type"] == "invitation.sent"}
    assert sent == set(listed), "the log and the invitations view disagree"
    assert "every view equals a fresh replay" in verify(svc.data)


def signal_kill():
    import signal
    return signal.SIGKILL


def hostile_requests():
    """Thousands of malformed and hostile requests, generated."""
    rng = random.Random(7)
    strings = ["", " ", "a" * 5000, "\u0000", "\u202e", "😀" * 50, "Robert'); DROP TABLE orgs;--", "../../etc/passwd", "%2e%2e%2f", "\ud7ff", "ＡＣＭＥ", "acme\nX-Actor: system"]
    bodies = [b"", b"{", b"[]", b"null", b"123", b'{"handle":1}', b'{"handle":"acme","display_name":null}', b'{"a":1,"a":2}',
              b'{"handle":"' + b"x" * 70000 + b'"}', b"\xff\xfe", b'{"emails":' + b'["a@b.co",' * 200 + b'"x"]}', b'{"n":1e999}', b'{"n":1.5}',
              b'{"display_name":"\\ud800"}', b"[" * 100 + b"]" * 100]
    paths = ["/v1/orgs", "/v1/orgs/acme", "/v1/orgs/acme/handle", "/v1/orgs/acme/members/%2e%2e%2fetc", "/v1/orgs/..%2f..%2fsecret",
             "/v1/orgs/acme/members/a%00b@example.com/role", "/v1/orgs/acme/invitations", "/v1/orgs/%00", "/v1/invitations/%2e%2e/accept",
             "/v1/orgs/acme/api-keys", "/v1/auth/verify", "/v1/orgs/acme/deletion", "/v1/orgs/acme/audit?cursor=-1&limit=999999&since=yesterday",
             "/v1/orgs/acme/members?as_of=banana", "/v1/events?after=-5"]
    methods = ["POST", "PATCH", "PUT", "DELETE", "GET"]
    actors = [None, OWNER, "system", "SYSTEM", "not-an-email", "stranger@example.com", "a" * 600]
    for n in range(2500):
        headers = {}
        actor = rng.choice(actors)
        if actor:
            headers["X-Actor"] = actor
        kind = rng.random()
        if kind < 0.5:
            body = rng.choice(bodies)
        else:
            body = json.dumps({rng.choice(["handle", "display_name", "emails", "role", "confirm", "secret", "avatar_url", "ttl_days"]): rng.choice(strings + [123, None, [], {}, True])}).encode()
        if rng.random() < 0.1:
            headers["Content-Type"] = rng.choice(["text/plain", "application/xml", ""])
        else:
            headers["Content-Type"] = "application/json"
        if rng.random() < 0.1:
            headers["If-Match"] = rng.choice(['"x"', "W/", '"99999"'])
        yield rng.choice(methods), rng.choice(paths), headers, body


def test_hostile_input_gets_4xx_problems_and_writes_nothing(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER).status == 201
        head = svc.request("GET", "/v1/health").json["head_seq"]
        statuses = {}
        for method, path, headers, body in hostile_requests():
            connection = UnixConnection(svc.sock, timeout=10)
            started = time.time()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            assert time.time() - started < 5, (method, path)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status < 500, (method, path, headers, body[:200], payload[:300])
            if response.status >= 400:
                assert response.getheader("Content-Type") == "application/problem+json", (method, path, response.status, payload[:200])
                doc = json.loads(payload)
                assert doc["status"] == response.status and doc["detail"]
            assert response.status >= 300 or method == "GET", (method, path, body[:200], payload[:200])
        # Half-sent requests: a body shorter than its Content-Length, then the connection closes.
        for _ in range(20):
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.connect(svc.sock)
            raw.sendall(b"POST /v1/orgs HTTP/1.1\r\nHost: x\r\nX-Actor: owner@example.com\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"handle\":")
            raw.close()
        assert svc.request("GET", "/v1/health").json["head_seq"] == head
        assert sum(statuses.values()) == 2500 and set(statuses) <= set(range(200, 500))
    finally:
        svc.stop()


def test_racing_role_changes_one_wins_per_version(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        assert svc.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Acme"}, actor=OWNER).status == 201
        inv = svc.request("POST", "/v1/orgs/acme/invitations", {"emails": ["m@example.com"], "role": "member"}, actor=OWNER).json["invitations"][0]
        svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="m@example.com")
        roles = ["viewer", "member", "moderator", "admin", "billing_manager"]
        for _ in range(5):
            version = svc.request("GET", "/v1/orgs/acme", actor=OWNER).header("etag")
            results = []

            def change(role):
                reply = svc.request("PUT", "/v1/orgs/acme/members/m@example.com/role", {"role": role}, actor=OWNER, headers={"If-Match": version})
                results.append(reply.status)

            current = svc.request("GET", "/v1/orgs/acme/members/m@example.com", actor=OWNER).json["role"]
            threads = [threading.Thread(target=change, args=(r,)) for r in roles if r != current for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert results.count(200) == 1, results
            assert set(results) <= {200, 409, 412}
    finally:
        svc.stop()
    verify(svc.data)

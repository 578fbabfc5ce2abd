"""The CLI client against a running service: `orgledger demo`, tables for people, --json for scripts,
problem documents as errors, a followed 308."""
import json
import os
import subprocess

import pytest

from service import BIN, Service


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("cli")).wait_ready()
    result = subprocess.run([str(BIN / "orgledger"), "demo", "--socket", service.sock], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "commands applied" in result.stdout
    yield service
    service.stop()


def cli(svc, *args, actor=None):
    env = dict(os.environ, ORGLEDGER_SOCKET=svc.sock)
    if actor:
        env["ORGLEDGER_ACTOR"] = actor
    return subprocess.run([str(BIN / "orgledger"), *args], capture_output=True, text=True, timeout=60, env=env)


def test_demo_fills_a_realistic_example(svc):
    acme = svc.request("GET", "/v1/orgs/acme/members?limit=1000", actor="ada@acme.example").json["members"]
    assert {m["role"] for m in acme} == {"owner", "admin", "moderator", "member", "viewer", "billing_manager"}
    assert len(acme) >= 12 and any(m["status"] == "suspended" for m in acme)
    total = sum(len(svc.request("GET", f"/v1/orgs/{h}/members?limit=1000", actor=o).json["members"])
                for h, o in [("acme", "ada@acme.example"), ("globex-corp", "hank@globex.example"), ("initech", "bill@initech.example")])
    assert total >= 36  # dozens of members
    assert svc.request("GET", "/v1/orgs/initech", actor="bill@initech.example").json["status"] == "pending_deletion"
    assert svc.request("GET", "/v1/orgs/globex", actor="hank@globex.example").status == 308
    actions = [e["action"] for e in svc.request("GET", "/v1/orgs/acme/audit?limit=1000", actor="ada@acme.example").json["events"]]
    assert "org.auth_reset" in actions and "member.suspended" in actions
    pending = svc.request("GET", "/v1/orgs/acme/invitations?status=pending", actor="ada@acme.example").json["invitations"]
    declined = svc.request("GET", "/v1/orgs/acme/invitations?status=declined", actor="ada@acme.example").json["invitations"]
    assert pending and declined


def test_tables_for_people_and_json_for_scripts(svc):
    table = cli(svc, "member", "list", "acme", actor="ada@acme.example")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "STATUS", "JOINED_AT", "INVITED_BY"]
    assert any(line.startswith("ada@acme.example") and " owner " in line for line in lines)
    as_json = cli(svc, "member", "list", "acme", "--json", actor="ada@acme.example")
    assert json.loads(as_json.stdout)["members"][0]["email"] == "ada@acme.example"
    show = cli(svc, "org", "show", "acme", "--as", "ada@acme.example")
    assert any(line.split()[:2] == ["handle", "acme"] for line in show.stdout.splitlines())


def test_errors_exit_1_with_the_problem_on_stderr(svc):
    refused = cli(svc, "member", "remove", "acme", "ada@acme.example", actor="bruno@acme.example")
    assert refused.returncode == 1
    assert "error 403 not_permitted" in refused.stderr
    invalid = cli(svc, "invite", "acme", "not-an-email", "--role", "member", actor="ada@acme.example")
    assert invalid.returncode == 1 and "emails[0]" in invalid.stderr
    down = subprocess.run([str(BIN / "orgledger"), "health", "--socket", "/nonexistent/orgledger.sock"], capture_output=True, text=True)
    assert down.returncode != 0 and "cannot reach the service" in down.stderr


def test_a_former_handle_is_followed(svc):
    moved = cli(svc, "org", "show", "globex", actor="hank@globex.example")
    assert moved.returncode == 0, moved.stderr
    assert "globex-corp" in moved.stderr and "globex-corp" in moved.stdout


def test_keys_from_the_cli(svc):
    created = cli(svc, "key", "create", "acme", "nightly", "--role", "viewer", "--json", actor="ada@acme.example")
    secret = json.loads(created.stdout)["secret"]
    verified = cli(svc, "key", "verify", secret, "--json")
    assert json.loads(verified.stdout)["role"] == "viewer"

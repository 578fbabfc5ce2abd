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


def cli_tty(svc, *args, actor=None, columns=80):
    """The CLI with its standard output on a pseudo-terminal `columns` wide, as a person sees it."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = dict(os.environ, ORGLEDGER_SOCKET=svc.sock)
    if actor:
        env["ORGLEDGER_ACTOR"] = actor
    process = subprocess.Popen([str(BIN / "orgledger"), *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    process.wait(timeout=60)
    os.close(master)
    return out.decode().replace("\r\n", "\n")


def test_tables_for_people_and_json_for_scripts(svc):
    table = cli_tty(svc, "member", "list", "acme", actor="ada@acme.example")
    lines = table.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "STATUS", "JOINED_AT", "INVITED_BY"]
    assert any(line.startswith("ada@acme.example") and " owner " in line for line in lines)
    as_json = cli(svc, "member", "list", "acme", "--json", actor="ada@acme.example")
    members = json.loads(as_json.stdout)["members"]
    assert any(m["email"] == "ada@acme.example" and m["role"] == "owner" and m["user_id"].startswith("usr_") for m in members)
    show = cli_tty(svc, "org", "show", "acme", "--as", "ada@acme.example")
    assert any(line.split()[:2] == ["handle", "acme"] for line in show.splitlines())


def test_piped_tables_are_tab_separated_rows(svc):
    piped = cli(svc, "member", "list", "acme", actor="ada@acme.example")
    assert piped.returncode == 0, piped.stderr
    rows = [line.split("\t") for line in piped.stdout.splitlines()]
    assert rows and all(len(row) == 5 for row in rows), piped.stdout
    assert ["ada@acme.example", "owner"] in [row[:2] for row in rows]
    assert "EMAIL" not in piped.stdout
    show = cli(svc, "org", "show", "acme", actor="ada@acme.example")
    assert "handle\tacme" in show.stdout.splitlines()


def test_tables_fit_the_terminal_and_align_wide_characters(svc):
    svc.request("POST", "/v1/orgs", {"handle": "wide", "display_name": "Wide"}, actor="w@example.com")
    invited = svc.request("POST", "/v1/orgs/wide/invitations", {"emails": ["山田太郎@example.com", "jose\u0301@example.com", "plain@example.com"], "role": "member"}, actor="w@example.com")
    assert invited.status == 201, invited
    for invitation in invited.json["invitations"]:
        assert svc.request("POST", f"/v1/invitations/{invitation['id']}/accept", actor=invitation["email"]).status == 200
    table = cli_tty(svc, "member", "list", "wide", actor="w@example.com", columns=60)
    lines = [line for line in table.splitlines() if line.strip()]
    assert len(lines) == 5, table

    def width(text):
        import unicodedata
        return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    assert max(width(line) for line in lines) <= 60, table
    # The ROLE column starts at the same display column on every line, CJK and combining marks included.
    starts = set()
    for line in lines[1:]:
        email = line.split("  ")[0]
        starts.add(width(email) + (len(line) - len(line.lstrip())) + len(line[len(email):]) - len(line[len(email):].lstrip()))
    assert len(starts) == 1, table


def test_version_and_exit_codes(svc):
    version = subprocess.run([str(BIN / "orgledger"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip()
    for usage in (["member", "remove"], ["nonsense"], ["serve", "--log-level", "loud"], ["org", "audit", "acme", "--format", "xml"]):
        result = cli(svc, *usage)
        assert result.returncode == 2, (usage, result.returncode, result.stderr)
        assert "Usage: orgledger" in result.stderr and "Usage: orgledger <subcommand>" not in result.stderr or usage == ["nonsense"]
    assert cli(svc, "member", "remove", "acme", "ada@acme.example", actor="bruno@acme.example").returncode == 1


def test_org_audit_format_json_prints_json(svc):
    result = cli(svc, "org", "audit", "acme", "--format", "json", "--limit", "3", actor="ada@acme.example")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["events"]) == 3


def test_a_member_with_a_non_ascii_email_is_managed_from_the_cli(svc):
    svc.request("POST", "/v1/orgs", {"handle": "intl", "display_name": "Intl"}, actor="o@example.com")
    inv = svc.request("POST", "/v1/orgs/intl/invitations", {"emails": ["josé@münchen.de"], "role": "member"}, actor="o@example.com").json["invitations"][0]
    assert svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor="josé@münchen.de").status == 200
    assert cli(svc, "member", "role", "intl", "JOSÉ@münchen.de", "viewer", actor="o@example.com").returncode == 0
    assert cli(svc, "member", "suspend", "intl", "josé@xn--mnchen-3ya.de", actor="o@example.com").returncode == 0
    removed = cli(svc, "member", "remove", "intl", "josé@münchen.de", actor="o@example.com")
    assert removed.returncode == 0, removed.stderr


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
    env = dict(os.environ, ORGLEDGER_SOCKET=svc.sock)
    verified = subprocess.run([str(BIN / "orgledger"), "key", "verify", "--json"], input=secret + "\n", capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(verified.stdout)["role"] == "viewer"
    # The secret is never an argument (visible in ps and shell history): one given there is a usage error.
    assert cli(svc, "key", "verify", secret).returncode == 2


def test_demo_on_a_service_that_has_acme_says_so_and_writes_nothing(tmp_path):
    service = Service(tmp_path).wait_ready()
    try:
        assert service.request("POST", "/v1/orgs", {"handle": "acme", "display_name": "Mine"}, actor="me@example.com").status == 201
        head = service.request("GET", "/v1/health").json["head_seq"]
        result = subprocess.run([str(BIN / "orgledger"), "demo", "--socket", service.sock], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and "'acme' is taken" in result.stderr
        assert service.request("GET", "/v1/health").json["head_seq"] == head
    finally:
        service.stop()

"""The ledger on PostgreSQL (product spec §11), beyond what the rest of the suite checks on it
(scripts/test runs the whole suite a second time with every service on PostgreSQL):

- two instances on one database: the writer SIGKILLed under load, the standby takes over, nothing
  acknowledged is lost or doubled, seqs stay gap-free, the killed instance comes back as a follower;
- PostgreSQL itself restarted under load: requests in flight fail cleanly, the service recovers alone;
- the offline commands on a database: export, import (LMDB → PostgreSQL → LMDB, same head and root),
  verify, rebuild (while a service runs), and `--data` with `--store` refused.

Needs ORGLEDGER_TEST_POSTGRES (a URL of a server this suite may create databases on) and, for the
restart, ORGLEDGER_TEST_PG_CTL (the pg_ctl command line of that server); scripts/test sets both.
"""
import json
import os
import shlex
import signal
import subprocess
import threading
import time
import uuid

import pytest

from service import BIN, OWNER, POSTGRES, Service, problem

SERVER = os.environ.get("ORGLEDGER_TEST_POSTGRES")
PG_CTL = os.environ.get("ORGLEDGER_TEST_PG_CTL")

pytestmark = [
    pytest.mark.skipif(not SERVER, reason="needs ORGLEDGER_TEST_POSTGRES (scripts/test starts a server)"),
    # Run once, in the pass on LMDB: these tests start their own services on PostgreSQL.
    pytest.mark.skipif(bool(POSTGRES), reason="runs in the LMDB pass (it starts its own PostgreSQL services)"),
]


def orgledger(*args, stdin=None, check=True):
    run = subprocess.run([str(BIN / "orgledger"), *args], input=stdin, capture_output=True, timeout=300)
    if check:
        assert run.returncode == 0, (args, run.stdout[-2000:], run.stderr[-2000:])
    return run


def fresh_database():
    """A new, empty database on the test server; its URL."""
    name = "pg_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", SERVER, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    head, _, query = SERVER.partition("?")
    return head[: head.rindex("/") + 1] + name + ("?" + query if query else "")


class Load:
    """Clients creating orgs with an Idempotency-Key each, against whichever instance answers: a 503
    or a dropped connection is retried (same key) until acknowledged or the load stops."""

    def __init__(self, services, clients=6):
        self.services = services
        self.acknowledged = []  # handles answered 201 (or replayed 201)
        self.statuses = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def client(self, index):
        n = 0
        while not self.stopping.is_set():
            n += 1
            handle, key = f"c{index}-{n}", uuid.uuid4().hex
            deadline = time.time() + 60
            while time.time() < deadline:
                reply = None
                for svc in self.services:
                    try:
                        reply = svc.request("POST", "/v1/orgs", {"handle": handle, "display_name": "Load"}, actor=OWNER,
                                            headers={"Idempotency-Key": key}, timeout=30)
                    except OSError:
                        continue
                    with self.lock:
                        self.statuses.append(reply.status)
                    if reply.status != 503:
                        break
                if reply is not None and reply.status == 201:
                    with self.lock:
                        self.acknowledged.append(handle)
                    break
                assert reply is None or reply.status == 503, reply
                if reply is not None:
                    assert reply.header("Retry-After"), reply
                time.sleep(0.05)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)


def org_handles(svc):
    return [org["handle"] for org in svc.pages("/v1/orgs", "orgs", actor=OWNER, limit=200)]


def export_seqs(url):
    lines = orgledger("export", "--store", url).stdout.decode().splitlines()
    return [json.loads(line)["seq"] for line in lines if line]


def start(tmp_path, name, url, key):
    folder = tmp_path / name
    folder.mkdir()
    svc = Service(folder, sock=str(tmp_path / f"{name}.sock"), extra=["--store", url, "--instance-key", str(key)], storage=False)
    return svc.wait_ready()


def test_standby_takes_over_from_a_killed_writer(tmp_path):
    url, key = fresh_database(), tmp_path / "instance.key"
    a = start(tmp_path, "a", url, key)
    b = start(tmp_path, "b", url, key)
    # One writes: the first; the other refuses commands, with the time to retry after.
    assert a.request("POST", "/v1/orgs", {"handle": "first", "display_name": "First"}, actor=OWNER).status == 201
    refused = problem(b.request("POST", "/v1/orgs", {"handle": "second", "display_name": "Second"}, actor=OWNER), 503, "not_writer")
    assert refused
    assert b.request("POST", "/v1/orgs", {"handle": "second", "display_name": "Second"}, actor=OWNER).header("Retry-After") == "1"
    with Load([a, b]) as load:
        time.sleep(2)
        before = len(load.acknowledged)
        a.stop(signal.SIGKILL)
        killed_at = time.time()
        # The standby takes over within seconds: acknowledgements resume.
        while len(load.acknowledged) == before and time.time() - killed_at < 20:
            time.sleep(0.1)
        assert len(load.acknowledged) > before, "the standby did not take over"
        time.sleep(2)
    assert before > 0
    handles = org_handles(b)
    # Every acknowledged command is there exactly once, and nothing else but the first org.
    assert sorted(handles) == sorted(set(handles))
    # A command whose answer the kill cut off was retried with its key, and answered from the kept reply.
    assert set(handles) == set(load.acknowledged) | {"first"}
    seqs = export_seqs(url)
    assert seqs == list(range(1, len(seqs) + 1))
    verified = orgledger("verify", "--store", url)
    assert b"chain intact" in verified.stdout
    # The killed instance, started again, follows: it answers reads and refuses commands while the
    # standby writes, which goes on writing.
    again = start(tmp_path, "a2", url, key)
    problem(again.request("POST", "/v1/orgs", {"handle": "stale", "display_name": "Stale"}, actor=OWNER), 503, "not_writer")
    assert again.request("GET", "/v1/health").json["writes"] is False and b.request("GET", "/v1/health").json["writes"] is True
    assert b.request("POST", "/v1/orgs", {"handle": "after", "display_name": "After"}, actor=OWNER).status == 201
    deadline = time.time() + 10
    while "after" not in org_handles(again) and time.time() < deadline:
        time.sleep(0.1)
    assert "after" in org_handles(again)
    later = export_seqs(url)
    assert later == list(range(1, len(later) + 1)) and len(later) > len(seqs)
    # A writer stopped gracefully gives its role up at once: the follower writes within a poll, not a lease.
    b.stop()
    stopped = time.time()
    while again.request("GET", "/v1/health").json["writes"] is False and time.time() - stopped < 10:
        time.sleep(0.05)
    assert again.request("GET", "/v1/health").json["writes"] is True
    assert time.time() - stopped < 2.5, "the lease was not released: the follower waited for it to lapse"
    again.stop()


@pytest.mark.skipif(not PG_CTL, reason="needs ORGLEDGER_TEST_PG_CTL")
def test_postgresql_restarted_under_load(tmp_path):
    url, key = fresh_database(), tmp_path / "instance.key"
    svc = start(tmp_path, "a", url, key)
    with Load([svc], clients=4) as load:
        time.sleep(1.5)
        subprocess.run(shlex.split(PG_CTL) + ["restart", "-m", "fast", "-w"], check=True, capture_output=True, timeout=120)
        restarted = len(load.acknowledged)
        deadline = time.time() + 30
        while len(load.acknowledged) == restarted and time.time() < deadline:
            time.sleep(0.1)
        assert len(load.acknowledged) > restarted, "the service did not recover after PostgreSQL restarted: " + svc.output()[-3000:]
    # Requests in flight failed cleanly (503, retried), never 500; nothing acknowledged was lost.
    assert set(load.statuses) <= {201, 503}, set(load.statuses)
    handles = org_handles(svc)
    assert set(load.acknowledged) <= set(handles) and len(handles) == len(set(handles))
    seqs = export_seqs(url)
    assert seqs == list(range(1, len(seqs) + 1))
    assert svc.process.poll() is None
    svc.stop()


def test_export_and_import_move_a_ledger_between_backends(tmp_path):
    # A ledger on LMDB, with people, an erasure-free history, and a checkpoint.
    (tmp_path / "lmdb").mkdir()
    svc = Service(tmp_path / "lmdb").wait_ready()
    for handle in ("one", "two"):
        assert svc.request("POST", "/v1/orgs", {"handle": handle, "display_name": handle}, actor=OWNER).status == 201
    assert svc.request("POST", "/v1/orgs/one/invitations", {"emails": ["x@example.com"], "role": "member"}, actor=OWNER).status in (200, 201)
    svc.stop()
    data = tmp_path / "lmdb" / "data"
    export = orgledger("export", "--data", str(data), "--disclose", str(tmp_path / "disclosure.ndjson")).stdout
    # Into PostgreSQL, keeping the instance key (so lookups by email still find the same users).
    url = fresh_database()
    imported = orgledger("import", "--store", url, "--disclosure", str(tmp_path / "disclosure.ndjson"),
                         "--instance-key", str(data / "instance.key"), stdin=export).stdout.decode()
    lmdb_head = json.loads(export.decode().splitlines()[-1])["hash"]
    assert lmdb_head in imported
    assert orgledger("export", "--store", url).stdout == export
    assert b"every view equals a fresh replay" in orgledger("verify", "--store", url).stdout
    # A second import into the same database is refused; nothing is written.
    refused = orgledger("import", "--store", url, "--instance-key", str(data / "instance.key"), stdin=export, check=False)
    assert refused.returncode == 1 and b"holds a ledger already" in refused.stderr
    # Served from PostgreSQL: the same people, the same tree root as the LMDB service signed.
    on_pg = start(tmp_path, "pg", url, data / "instance.key")
    assert on_pg.request("GET", "/v1/orgs/one/members", actor=OWNER).status == 200
    pg_root = checkpoint_root(on_pg)
    on_pg.stop()
    # And back: PostgreSQL's export into a data folder gives the same head.
    back = tmp_path / "back"
    out = orgledger("import", "--data", str(back), stdin=orgledger("export", "--store", url).stdout).stdout.decode()
    assert lmdb_head in out
    (tmp_path / "again").mkdir()
    again = Service(tmp_path / "again", data=back).wait_ready()
    assert checkpoint_root(again) == pg_root
    again.stop()


def test_rebuild_on_postgresql_rederives_the_views_while_a_service_runs(tmp_path):
    url, key = fresh_database(), tmp_path / "instance.key"
    svc = start(tmp_path, "a", url, key)
    for handle in ("one", "two"):
        assert svc.request("POST", "/v1/orgs", {"handle": handle, "display_name": handle}, actor=OWNER).status == 201
    # Every org row changed behind the ledger's back (a byte appended): verify names a differing row.
    subprocess.run(["psql", url, "-qc", "UPDATE orgledger_rows SET value = value || '\\x20'::bytea WHERE tbl = 'orgs'"], check=True, capture_output=True)
    damaged = orgledger("verify", "--store", url, check=False)
    assert damaged.returncode == 1 and b"differs from a fresh replay" in damaged.stderr, damaged.stderr
    rebuilt = orgledger("rebuild", "--store", url)
    assert b"rebuild: ok" in rebuilt.stdout
    assert b"every view equals a fresh replay" in orgledger("verify", "--store", url).stdout
    # The service was fenced while the rebuild wrote; it takes the role back and goes on.
    deadline, status = time.time() + 20, None
    while time.time() < deadline and status != 201:
        status = svc.request("POST", "/v1/orgs", {"handle": "three", "display_name": "Three"}, actor=OWNER).status
        time.sleep(0.2)
    assert status == 201
    assert sorted(org_handles(svc)) == ["one", "three", "two"]
    svc.stop()


def checkpoint_root(svc):
    """The root line of the service's checkpoint of its whole log (signed within a second of start)."""
    size = str(svc.request("GET", "/v1/health").json["head_seq"])
    deadline = time.time() + 10
    while time.time() < deadline:
        reply = svc.request("GET", "/v1/log/checkpoint")
        if reply.status == 200 and reply.body.decode().splitlines()[1] == size:
            return reply.body.decode().splitlines()[2]
        time.sleep(0.1)
    raise AssertionError("no checkpoint of the whole log")


def test_data_and_store_together_are_a_usage_error(tmp_path):
    for command in (["verify"], ["export"], ["serve", "--instance-key", "k"], ["audit", "--org", "x"]):
        run = orgledger(*command, "--data", str(tmp_path), "--store", SERVER, check=False)
        assert run.returncode == 2, (command, run.stderr)
    run = orgledger("serve", "--store", SERVER, check=False)
    assert run.returncode == 2 and b"--instance-key" in run.stderr
    run = orgledger("compact", "--store", SERVER, check=False)
    assert run.returncode == 2

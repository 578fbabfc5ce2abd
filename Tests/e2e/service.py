"""Helpers for end-to-end tests: start the built `orgledger serve` in a temporary folder and talk
HTTP/1.1 to it over its Unix socket with nothing but Python's standard library."""
import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.parse
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ORGLEDGER_BIN_DIR", ROOT / ".build" / "debug"))
# A PostgreSQL server (a URL naming any database on it): when set, every service of the suite runs
# on it (`serve --store`), each data folder standing for a database of its own.
POSTGRES = os.environ.get("ORGLEDGER_E2E_POSTGRES")


def database_for(data):
    """The URL of the database that stands for the data folder `data` on POSTGRES, created if new:
    a service started again on the same folder finds the same database."""
    name = "e2e_" + hashlib.sha256(str(Path(data).resolve()).encode()).hexdigest()[:20]
    created = subprocess.run(["psql", POSTGRES, "-qc", f"CREATE DATABASE {name}"], capture_output=True, text=True)
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise RuntimeError(f"cannot create database {name}: {created.stderr}")
    parts = urllib.parse.urlsplit(POSTGRES)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def reading(data):
    """How an offline command that reads (verify, export, audit, prove) names the storage of the data
    folder `data`: the folder, or its database."""
    return ["--store", database_for(data)] if POSTGRES else ["--data", str(data)]


def importing(data, instance_key):
    """How `import` names the storage of the data folder `data` and the instance key to keep: the folder
    (the key copied into it), or its database, with the key copied into the folder first, as every
    `serve --store` on that database is given it."""
    if not POSTGRES:
        return ["--data", str(data), "--instance-key", str(instance_key)]
    Path(data).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_key, Path(data) / "instance.key")
    os.chmod(Path(data) / "instance.key", 0o600)
    return ["--store", database_for(data), "--instance-key", str(Path(data) / "instance.key")]


def stored_table(data, table):
    """One table of the ledger, keys and values: LMDB's as mdb_dump prints it (printable bytes as they
    are), or PostgreSQL's rows of it, decoded."""
    if not POSTGRES:
        result = subprocess.run(["mdb_dump", "-p", "-s", table, str(data)], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout
    copied = subprocess.run(["psql", database_for(data), "-qc", f"COPY (SELECT key, value FROM orgledger_rows WHERE tbl = '{table}') TO STDOUT"],
                            check=True, capture_output=True, timeout=60).stdout
    return decoded_bytea(copied)


def stored_bytes(data, compacted=False):
    """Every byte the storage of the data folder `data` holds: the folder's files, or the database's rows
    as pg_dump prints them with each bytea also decoded. `compacted`: first `orgledger compact` (LMDB
    keeps deleted values on free pages until then), or `VACUUM FULL` (PostgreSQL keeps dead row
    versions until vacuumed)."""
    if not POSTGRES:
        if compacted:
            result = subprocess.run([str(BIN / "orgledger"), "compact", "--data", str(data)], capture_output=True, timeout=120)
            assert result.returncode == 0, result.stderr
        return b"".join(path.read_bytes() for path in sorted(Path(data).rglob("*")) if path.is_file())
    url = database_for(data)
    if compacted:
        subprocess.run(["psql", url, "-qc", "VACUUM FULL"], check=True, capture_output=True, timeout=120)
    dump = subprocess.run(["pg_dump", "--data-only", url], check=True, capture_output=True, timeout=120).stdout
    return dump + decoded_bytea(dump)


def stored_events(data):
    """The log's stored events (their bytes): LMDB's `events` table as mdb_dump prints it (printable
    bytes as they are), or PostgreSQL's `orgledger_events.bytes`."""
    if not POSTGRES:
        result = subprocess.run(["mdb_dump", "-p", "-s", "events", str(data)], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout
    copied = subprocess.run(["psql", database_for(data), "-qc", "COPY (SELECT bytes FROM orgledger_events ORDER BY seq) TO STDOUT"],
                            check=True, capture_output=True, timeout=60).stdout
    return decoded_bytea(copied)


def decoded_bytea(text):
    """The bytes of every bytea in hex form (`\\x…`) in `text`, one after the other."""
    return b"\n".join(bytes.fromhex(hex_digits.decode()[: len(hex_digits) // 2 * 2]) for hex_digits in re.findall(rb"\\x([0-9a-f]+)", text))


def storage_arguments(data):
    """How a command names the storage of the data folder `data`: the folder, or its database (with the
    instance key kept in the folder, which every instance on that database shares)."""
    if not POSTGRES:
        return ["--data", str(data)]
    Path(data).mkdir(parents=True, exist_ok=True)
    return ["--store", database_for(data), "--instance-key", str(Path(data) / "instance.key")]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


# Every service a test started, so the session can stop what a failed test left running.
STARTED = []


class Service:
    """One running `orgledger serve` on DATA and SOCKET (optionally under faketime)."""

    def __init__(self, folder, data=None, sock=None, faketime=None, extra=(), ulimit_files=None, storage=True):
        self.folder = Path(folder)
        self.data = Path(data or self.folder / "data")
        self.sock = str(sock or self.folder / "orgledger.sock")
        # `storage=False`: `extra` names the storage itself.
        command = [str(BIN / "orgledger"), "serve", *(storage_arguments(self.data) if storage else []), "--socket", self.sock, *extra]
        # On PostgreSQL a service started again on a database whose writer was killed follows until
        # the lease lapses: the suite's own services are ready once they write.
        self.ready_when_writing = storage and bool(POSTGRES)
        if ulimit_files:
            command = ["prlimit", f"--nofile={ulimit_files}", "--", *command]
        env = dict(os.environ)
        if faketime:
            command = ["faketime", "-f", faketime, *command]
        self.log = open(self.folder / f"serve-{time.time_ns()}.log", "w+")
        # A process group of its own: `faketime` runs the service as its child, and a signal to the
        # group reaches both (signalling faketime alone left the service running after the test).
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        STARTED.append(self)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.output()}")
            try:
                health = self.request("GET", "/v1/health")
                if health.status == 200 and (health.json["writes"] or not self.ready_when_writing):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("serve did not answer in time: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, actor=None, headers=None, raw=None, content_type="application/json", timeout=10):
        connection = UnixConnection(self.sock, timeout=timeout)
        all_headers = dict(headers or {})
        if actor:
            # Header bytes are UTF-8 on the wire; http.client writes str headers as Latin-1.
            all_headers["X-Actor"] = actor.encode().decode("latin-1") if isinstance(actor, str) else actor
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
        if payload is not None and content_type:
            all_headers.setdefault("Content-Type", content_type)
        try:
            connection.request(method, path, body=payload, headers=all_headers)
        except (BrokenPipeError, ConnectionResetError):
            # The HTTP parser refuses a bad header line and closes before the body is sent; under load the
            # close can win the race with our send. Its answer is still in the socket: read it, as a client would.
            pass
        response = connection.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        connection.close()
        return reply

    def pages(self, path, key, actor=None, limit=None):
        """Every row of a paged list, following `Link: <…>; rel="next"` as a client would; checks each
        page's `next_cursor` agrees with the link."""
        rows = []
        if limit:
            path += ("&" if "?" in path else "?") + f"limit={limit}"
        while path:
            reply = self.request("GET", path, actor=actor)
            assert reply.status == 200, reply
            rows += reply.json[key]
            link = reply.header("Link")
            assert (link is None) == (reply.json["next_cursor"] is None), (link, reply.json["next_cursor"])
            path = link[1:link.index(">")] if link else None
        return rows

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=timeout)
        return self.process.returncode


OWNER = "owner@example.com"


def problem(reply, status, reason=None):
    """Asserts an RFC 9457 problem document with this status (and reason); returns it."""
    assert reply.status == status, reply
    assert reply.header("content-type") == "application/problem+json", reply
    doc = reply.json
    assert doc["status"] == status and doc["title"] and doc["detail"] and doc["type"].startswith("urn:orgledger:problem:")
    if reason:
        assert doc["reason"] == reason, doc
    return doc


def create(svc, handle="acme", actor=OWNER):
    """Creates an org (the actor becomes its owner); returns its JSON."""
    reply = svc.request("POST", "/v1/orgs", {"handle": handle, "display_name": handle.title()}, actor=actor)
    assert reply.status == 201, reply
    return reply.json


def head(svc):
    """The log's head seq."""
    reply = svc.request("GET", "/v1/health")
    assert reply.status == 200, reply
    return reply.json["head_seq"]


def invite(svc, emails, role="member", org="acme", actor=OWNER):
    reply = svc.request("POST", f"/v1/orgs/{org}/invitations", {"emails": list(emails), "role": role}, actor=actor)
    assert reply.status == 201, reply
    return reply.json["invitations"]


def join(svc, email, role="member", org="acme", actor=OWNER, accept_as=None):
    """Invite `email` and accept as `accept_as` (default: the same email); returns the accepted member."""
    inv = invite(svc, [email], role, org, actor)[0]
    accepted = svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor=accept_as or email)
    assert accepted.status == 200, accepted
    return accepted.json["member"]

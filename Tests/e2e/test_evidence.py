"""The log as a transparency log (issue #14; product spec section 9), against the real binary.

An independent verifier, Go's golang.org/x/mod/sumdb/note and sumdb/tlog (Tests/tlog-verifier, built
offline against Debian's copy), checks the signed checkpoint, recomputes the root from the tiles, and
checks inclusion and consistency proofs. Python checks the same proofs by RFC 9162's own procedure (the
README's script), and the offline commands catch a rewritten, re-hashed backup.
"""
import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from service import BIN, OWNER, Service, create, head, join, reading, storage_arguments
from test_offline_commands import rechain
from test_scim import free_port, run

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = yaml.safe_load((ROOT / "schemas" / "openapi.yaml").read_text())
# Offline, against Debian's golang-golang-x-mod-dev: no module download, no network.
GO_ENV = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode"}


@pytest.fixture(scope="module")
def go_verifier(tmp_path_factory):
    """The Go verifier, built once, offline."""
    out = tmp_path_factory.mktemp("go") / "tlog-verifier"
    built = subprocess.run(["go", "build", "-o", str(out), "main.go"], cwd=ROOT / "Tests" / "tlog-verifier", env=GO_ENV, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return out


# --- RFC 9162 by hand: what an auditor writes (the README shows the same) -------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def check_inclusion(leaf: bytes, index: int, size: int, path: list, root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def mth(leaves: list) -> bytes:
    """RFC 9162 section 2.1.1, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def entry_bytes(export_line: str) -> bytes:
    """The leaf of an export line: the envelope without its hash, canonical (the bytes `hash` is the SHA-256 of)."""
    envelope = json.loads(export_line)
    envelope.pop("hash")
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- A service with some history --------------------------------------------------------------------


def add_history(svc, orgs, prefix):
    for n in range(orgs):
        handle = f"{prefix}{n}"
        create(svc, handle)
        emails = [f"{prefix}{n}.{i}@example.com" for i in range(3)]
        reply = svc.request("POST", f"/v1/orgs/{handle}/invitations", {"emails": emails, "role": "member"}, actor=OWNER)
        assert reply.status in (200, 201), reply


def wait_checkpoint(svc, at_least, timeout=10):
    """The latest checkpoint once it covers `at_least` events (signed at least once a second)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        reply = svc.request("GET", "/v1/log/checkpoint")
        if reply.status == 200:
            origin, size, root = reply.body.decode().split("\n")[:3]
            if int(size) >= at_least:
                return reply.body.decode(), int(size), base64.b64decode(root)
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint of {at_least} events within {timeout}s")


def another_instance_key(tmp_path):
    """The verifier key of a fresh instance: a key that signed none of this test's checkpoints."""
    (tmp_path / "other").mkdir()
    other = Service(tmp_path / "other").wait_ready()
    other.stop()
    return run("checkpoint-key", *storage_arguments(other.data)).stdout.strip()


def test_the_go_verifier_checks_checkpoints_tiles_and_proofs_across_a_sigkill(tmp_path, go_verifier):
    port = free_port()
    svc = Service(tmp_path, extra=("--listen", f"127.0.0.1:{port}")).wait_ready()
    key = run("checkpoint-key", *storage_arguments(svc.data))
    assert key.returncode == 0, key.stderr
    vkey = key.stdout.strip()
    add_history(svc, 70, "a")  # past one full tile of entries (256) and its hash tile
    first_note, first_size, _ = wait_checkpoint(svc, head(svc))
    (tmp_path / "first.note").write_text(first_note)
    add_history(svc, 20, "b")
    second_note, second_size, _ = wait_checkpoint(svc, head(svc))
    (tmp_path / "second.note").write_text(second_note)
    assert first_size < second_size and first_size > 256
    # The writer dies mid-history; the restarted service's checkpoints extend every earlier one.
    svc.stop(sig=signal.SIGKILL)
    again = Service(tmp_path, data=svc.data, extra=("--listen", f"127.0.0.1:{port}")).wait_ready()
    try:
        add_history(again, 5, "c")
        wait_checkpoint(again, head(again))
        earlier = f"{tmp_path / 'first.note'},{tmp_path / 'second.note'}"
        checked = subprocess.run(
            [str(go_verifier), "-url", f"http://127.0.0.1:{port}", "-key", vkey, "-earlier", earlier, "-samples", "40"],
            capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "2 consistency proofs" in checked.stdout, checked.stdout
        # A key of another instance does not verify these checkpoints.
        other_key = another_instance_key(tmp_path)
        wrong = subprocess.run([str(go_verifier), "-url", f"http://127.0.0.1:{port}", "-key", other_key], capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1 and "signature" in wrong.stderr, wrong.stderr
    finally:
        again.stop()


def test_proofs_check_by_rfc_9162_by_hand_and_the_tree_matches_the_export(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        add_history(svc, 12, "h")
        note, size, root = wait_checkpoint(svc, head(svc))
        lines = svc.request("GET", "/v1/events?limit=10000").body.decode().splitlines()
        leaves = [leaf_hash(entry_bytes(line)) for line in lines[:size]]
        assert mth(leaves) == root, "the checkpoint's root is the RFC 9162 root of the export's first `size` events"
        for seq in sorted(random.Random(7).sample(range(1, size + 1), 12)) + [1, size]:
            proof = svc.request("GET", f"/v1/proofs/inclusion?seq={seq}&size={size}").json
            assert proof["seq"] == seq and proof["leaf_index"] == seq - 1 and proof["tree_size"] == size
            path = [base64.b64decode(h) for h in proof["hashes"]]
            assert check_inclusion(leaves[seq - 1], seq - 1, size, path, root)
            assert not check_inclusion(leaves[seq % size], seq - 1, size, path, root), "another event's leaf does not verify"
        # Without size: against the latest checkpoint.
        assert svc.request("GET", "/v1/proofs/inclusion?seq=3").json["tree_size"] == size
        # The tiles, read as a tlog client reads them.
        level0 = svc.request("GET", f"/v1/log/tile/0/000.p/{size}")
        assert level0.status == 200 and level0.body == b"".join(leaves)
        entries = svc.request("GET", f"/v1/log/tile/entries/000.p/{size}").body
        parsed, rest = [], entries
        while rest:
            n = int.from_bytes(rest[:2], "big")
            parsed.append(rest[2:2 + n])
            rest = rest[2 + n:]
        assert parsed == [entry_bytes(line) for line in lines[:size]]
        # The refusals: no such tile yet, a path with a second spelling, a seq past the tree, nonsense.
        for path, status in (
            (f"/v1/log/tile/0/000.p/{size + 1}", 404), ("/v1/log/tile/0/000", 404), ("/v1/log/tile/0/x000/000.p/1", 404),
            ("/v1/log/tile/0/0.p/1", 404), ("/v1/log/tile/0/000.p/0", 404), ("/v1/log/tile/0/000.p/256", 404), ("/v1/log/tile/9/000.p/1", 404),
            ("/v1/log/tile/entries/000.p/01", 404), ("/v1/log/tile/0/x999/x999/x999/x999/x999/x999/999.p/1", 404),
            (f"/v1/proofs/inclusion?seq={size + 1}&size={size}", 404), ("/v1/proofs/inclusion?seq=0", 400), ("/v1/proofs/inclusion?seq=-1", 400),
            ("/v1/proofs/inclusion?seq=1&size=99999999999999999999", 400), ("/v1/proofs/inclusion", 400), ("/v1/proofs/inclusion?seq=1&size=%2B5", 400),
            (f"/v1/proofs/consistency?from={size}&to=1", 404), ("/v1/proofs/consistency?from=0&to=1", 400), ("/v1/proofs/consistency?from=1&to=999999", 404),
        ):
            reply = svc.request("GET", path)
            assert reply.status == status, (path, reply)
        consistency = svc.request("GET", f"/v1/proofs/consistency?from=5&to={size}").json
        assert consistency["from"] == 5 and consistency["to"] == size and consistency["hashes"]
    finally:
        svc.stop()


def test_a_rewritten_rehashed_backup_fails_against_a_pinned_checkpoint(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        add_history(svc, 6, "p")
        note, size, _ = wait_checkpoint(svc, head(svc))
    finally:
        svc.stop()
    pinned = tmp_path / "pinned.note"
    pinned.write_text(note)
    vkey = run("checkpoint-key", *storage_arguments(svc.data)).stdout.strip()
    exported = run("export", *reading(svc.data))
    assert exported.returncode == 0, exported.stderr
    genuine = tmp_path / "genuine.ndjson"
    genuine.write_text(exported.stdout)
    ok = run("verify", "--export", str(genuine), "--checkpoint", str(pinned), "--key", vkey)
    assert ok.returncode == 0 and f"size {size}" in ok.stdout, ok.stderr
    # One event changed, the chain fully re-hashed: the chain alone still verifies; the pin does not.
    forged_events = [json.loads(line) for line in exported.stdout.splitlines()]
    target = next(e for e in forged_events if e["type"] == "invitation.sent")
    target["data"]["role"] = "admin"
    forged = tmp_path / "forged.ndjson"
    forged.write_text(rechain(forged_events))
    assert run("verify", "--export", str(forged)).returncode == 0, "a re-hashed chain verifies on its own"
    caught = run("verify", "--export", str(forged), "--checkpoint", str(pinned), "--key", vkey)
    assert caught.returncode == 1 and "rewritten" in caught.stderr, caught.stderr
    # A log cut short of the checkpoint, a checkpoint of another key, an altered note: each refused.
    short = tmp_path / "short.ndjson"
    short.write_text("\n".join(exported.stdout.splitlines()[:3]) + "\n")
    cut = run("verify", "--export", str(short), "--checkpoint", str(pinned), "--key", vkey)
    assert cut.returncode == 1 and "lost events" in cut.stderr, cut.stderr
    other_key = another_instance_key(tmp_path)
    wrong = run("verify", "--export", str(genuine), "--checkpoint", str(pinned), "--key", other_key)
    assert wrong.returncode == 1 and "checkpoint" in wrong.stderr, wrong.stderr
    altered = tmp_path / "altered.note"
    altered.write_text(note.replace(f"\n{size}\n", f"\n{size - 1}\n"))
    bad = run("verify", "--export", str(genuine), "--checkpoint", str(altered), "--key", vkey)
    assert bad.returncode == 1 and "does not verify" in bad.stderr, bad.stderr
    assert run("verify", "--export", str(genuine), "--checkpoint", str(pinned)).returncode != 0, "--checkpoint needs --key"
    # import --expect-checkpoint: the genuine export moves; the forged one and the short one write nothing.
    moved = run("import", "--data", str(tmp_path / "moved"), "--expect-checkpoint", str(pinned), "--key", vkey, input=exported.stdout)
    assert moved.returncode == 0, moved.stderr
    for name, text, why in (("forged", forged.read_text(), "rewritten"), ("short", short.read_text(), "lost events")):
        refused = run("import", "--data", str(tmp_path / f"into-{name}"), "--expect-checkpoint", str(pinned), "--key", vkey, input=text)
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr
        assert not (tmp_path / f"into-{name}" / "data.mdb").exists()
    wrong_key = run("import", "--data", str(tmp_path / "into-wrong"), "--expect-checkpoint", str(pinned), "--key", other_key, input=exported.stdout)
    assert wrong_key.returncode == 1 and "not signed by" in wrong_key.stderr, wrong_key.stderr
    # prove: one event's proof in the latest checkpoint, checkable with nothing but the key (RFC 9162 by hand).
    proved = run("prove", *reading(svc.data), "--seq", "3")
    assert proved.returncode == 0, proved.stderr
    proof = json.loads(proved.stdout)
    assert proof["checkpoint"] == note and proof["tree_size"] == size and proof["leaf_index"] == 2
    root = base64.b64decode(proof["checkpoint"].split("\n")[2])
    path = [base64.b64decode(h) for h in proof["hashes"]]
    assert check_inclusion(leaf_hash(entry_bytes(proof["event"])), 2, size, path, root)
    assert json.loads(proof["event"])["seq"] == 3
    assert run("prove", *reading(svc.data), "--seq", str(size + 5)).returncode == 1


@pytest.mark.data_folder
def test_rebuild_rederives_the_tree_and_verify_checks_it(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        add_history(svc, 4, "r")
        _, size, root = wait_checkpoint(svc, head(svc))
    finally:
        svc.stop()
    assert run("rebuild", "--data", str(svc.data)).returncode == 0
    checked = run("verify", "--data", str(svc.data))
    assert checked.returncode == 0, checked.stderr
    again = Service(tmp_path, data=svc.data).wait_ready()
    try:
        proof = again.request("GET", f"/v1/proofs/consistency?from={size}&to={size}").json
        assert proof["hashes"] == []
        assert again.request("GET", "/v1/log/checkpoint").body.decode().split("\n")[2] == base64.b64encode(root).decode()
    finally:
        again.stop()


# --- Provable answers (?proof=true) -------------------------------------------------------------------


def check_signed_note(note: str, vkey: str) -> str:
    """C2SP signed-note with Ed25519, as an auditor checks it without OrgLedger: the text, if the key signed it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    name, key_hash, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_hash
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        signer, blob = line.removeprefix("\u2014 ").split(" ")
        blob = base64.b64decode(blob)
        if signer == name and blob[:4].hex() == key_hash:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], text.encode())  # raises if forged
            return text
    raise AssertionError("not signed by " + name)


def check_provable_answer(reply, vkey, org_id, email):
    """Everything ?proof=true claims, checked offline: the signature, each inclusion, gap-free versions up
    to the answer and the next, the member's events in them, and the email behind the user id."""
    assert reply.status == 200, reply
    jsonschema.validate(reply.json, {"$ref": "#/components/schemas/ProvableMember", "components": OPENAPI["components"]})
    answer, proof = reply.json["member"], reply.json["proof"]
    origin, size, root = check_signed_note(proof["checkpoint"], vkey).split("\n")[:3]
    size, root = int(size), base64.b64decode(root)
    assert proof["tree_size"] == size
    def proven(item):
        envelope = json.loads(item["event"])
        assert envelope["seq"] == item["seq"]
        assert check_inclusion(leaf_hash(entry_bytes(item["event"])), item["seq"] - 1, size, [base64.b64decode(h) for h in item["hashes"]], root)
        return envelope
    events = [proven(item) for item in proof["events"]]
    assert [e["stream"] for e in events] == [org_id] * len(events) and [e["version"] for e in events] == list(range(1, len(events) + 1))
    if proof["next"] is not None:
        following = proven(proof["next"])
        assert following["stream"] == org_id and following["version"] == len(events) + 1
    # The user behind the answer: their stream's email commitment, opened by the disclosed value.
    user_id = next(e["data"]["user_id"] for e in reversed(events) if e["data"].get("user_id") and e["type"].startswith("member."))
    naming = [proven(item) for item in proof["naming"]]
    assert naming and all(e["stream"] == user_id for e in naming)
    commitments = {e["seq"]: e["data"]["email"]["c"] for e in naming}
    opened = [d for d in proof["disclosures"] if d["seq"] in commitments]
    for d in opened:
        assert hashlib.sha256(b"orgledger/pii/v1\n" + bytes.fromhex(d["salt"]) + d["value"].encode()).hexdigest() == commitments[d["seq"]]
    return answer, events, opened


def test_provable_member_answers_check_offline_through_a_membership(tmp_path):
    svc = Service(tmp_path).wait_ready()
    try:
        vkey = run("checkpoint-key", *storage_arguments(svc.data)).stdout.strip()
        org = create(svc, "prov")
        member = "dana@example.com"
        join(svc, member, "viewer", org="prov")
        joined = head(svc)
        assert svc.request("PUT", f"/v1/orgs/prov/members/{member}/role", {"role": "moderator"}, actor=OWNER).status == 200
        promoted = head(svc)
        add_history(svc, 2, "noise")  # other orgs' events between: not part of this org's proof
        assert svc.request("POST", f"/v1/orgs/prov/members/{member}/suspend", actor=OWNER).status == 200
        suspended = head(svc)
        # Now: the answer folds every event of the org's stream; nothing is next.
        answer, events, opened = check_provable_answer(svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=true", actor=OWNER), vkey, org["id"], member)
        assert answer["status"] == "suspended" and answer["role"] == "moderator" and events[-1]["seq"] == suspended
        assert [d["value"] for d in opened] == [member]
        # As of earlier points: the answer then, the events up to it, and the next one that changed it.
        for point, role, status in ((joined, "viewer", "active"), (promoted, "moderator", "active")):
            reply = svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=true&as_of={point}", actor=OWNER)
            answer, events, _ = check_provable_answer(reply, vkey, org["id"], member)
            assert (answer["role"], answer["status"]) == (role, status) and events[-1]["seq"] == point
            assert json.loads(reply.json["proof"]["next"]["event"])["seq"] > point
        # A removed member: provable as of when they were one; not now.
        assert svc.request("DELETE", f"/v1/orgs/prov/members/{member}", actor=OWNER).status == 200
        answer, _, _ = check_provable_answer(svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=true&as_of={promoted}", actor=OWNER), vkey, org["id"], member)
        assert answer["role"] == "moderator"
        assert svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=true", actor=OWNER).status == 404
        assert svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=maybe", actor=OWNER).status == 400
        # A stranger learns nothing.
        assert svc.request("GET", f"/v1/orgs/prov/members/{member}?proof=true&as_of={joined}", actor="stranger@example.com").status in (403, 404)
    finally:
        svc.stop()


def test_a_provable_answer_about_an_erased_user_still_checks(tmp_path):
    """After an erasure (§8) the events, their bytes and so every proof are unchanged; the user is asked
    for by user id (their email is gone), and no value opens the commitments any more."""
    svc = Service(tmp_path).wait_ready()
    try:
        vkey = run("checkpoint-key", *storage_arguments(svc.data)).stdout.strip()
        org = create(svc, "gone")
        member = "erin@example.com"
        join(svc, member, org="gone")
        joined = head(svc)
        user_id = svc.request("GET", f"/v1/orgs/gone/members/{member}", actor=OWNER).json["user_id"]
        before, _, opened = check_provable_answer(
            svc.request("GET", f"/v1/orgs/gone/members/{member}?proof=true&as_of={joined}", actor=OWNER), vkey, org["id"], member)
        assert [d["value"] for d in opened] == [member]
        assert svc.request("POST", "/v1/me/deletion", {"confirm": member}, actor=member).status == 202
    finally:
        svc.stop()
    later = Service(tmp_path, faketime="+31d").wait_ready()  # the purge runs at start-up
    try:
        assert later.request("GET", f"/v1/orgs/gone/members/{member}?proof=true&as_of={joined}", actor=OWNER).status == 404
        reply = later.request("GET", f"/v1/orgs/gone/members/{user_id}?proof=true&as_of={joined}", actor=OWNER)
        after, events, opened = check_provable_answer(reply, vkey, org["id"], member)
        assert opened == [] and reply.json["proof"]["disclosures"] == []
        assert after["role"] == before["role"] and after["user_id"] == user_id
        assert events[-1]["seq"] == joined
    finally:
        later.stop()

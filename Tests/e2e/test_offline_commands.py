"""End-to-end checks of the built binaries, from outside Swift.

A real data folder is made by the crash-test child (orgledger-append-loop: orgs created, people invited
and accepting, through the command pipeline), killed with SIGKILL; then the offline commands are run as a
user would. The export is checked with nothing but Python's standard library and jsonschema: the chain as
README.md explains it, and every envelope against schemas/.
"""
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ORGLEDGER_BIN_DIR", ROOT / ".build" / "debug"))


def run(*args, input=None):
    return subprocess.run([str(BIN / "orgledger"), *args], capture_output=True, text=True, timeout=120, input=input)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger")
    child = subprocess.Popen([str(BIN / "orgledger-append-loop"), str(path)], stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return path


def test_verify_passes_on_an_intact_log(data_dir):
    result = run("verify", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "verify: ok" in result.stdout
    assert "chain intact" in result.stdout
    assert "every view equals a fresh replay" in result.stdout


def copy_folder(data_dir, tmp_path, name="copy"):
    copy = tmp_path / name
    copy.mkdir()
    (copy / "data.mdb").write_bytes((data_dir / "data.mdb").read_bytes())
    return copy


def test_verify_names_a_changed_view_row_and_rebuild_repairs_it(data_dir, tmp_path):
    copy = copy_folder(data_dir, tmp_path)
    data = (copy / "data.mdb").read_bytes()
    # Rows live in the views' pages; LMDB's copy-on-write also leaves stale copies in free pages, so
    # change every copy (events carry no "status" member, so the log is untouched).
    assert b'"status":"active"' in data
    (copy / "data.mdb").write_bytes(data.replace(b'"status":"active"', b'"status":"activx"'))
    result = run("verify", "--data", str(copy))
    assert result.returncode == 1
    assert "chain intact" in result.stderr
    assert "FAILED at row " in result.stderr
    rebuilt = run("rebuild", "--data", str(copy))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert run("verify", "--data", str(copy)).returncode == 0


def test_export_import_verify_keeps_the_head_hash(data_dir, tmp_path):
    exported = run("export", "--data", str(data_dir)).stdout
    restored = tmp_path / "restored"
    result = run("import", "--data", str(restored), input=exported)
    assert result.returncode == 0, result.stderr
    original = run("verify", "--data", str(data_dir)).stdout
    again = run("verify", "--data", str(restored)).stdout
    assert original.split("hash ")[1].split(";")[0] == again.split("hash ")[1].split(";")[0]
    # A broken chain imports nothing.
    lines = exported.splitlines()
    lines[5] = lines[5].replace('"at":"2', '"at":"1', 1)
    assert lines[5] != exported.splitlines()[5]
    broken = tmp_path / "broken"
    result = run("import", "--data", str(broken), input="\n".join(lines) + "\n")
    assert result.returncode == 1
    assert "line 6" in result.stderr
    assert not (broken / "data.mdb").exists()


def test_audit_offline_in_three_formats(data_dir):
    export = [json.loads(line) for line in run("export", "--data", str(data_dir)).stdout.splitlines()]
    org = next(e["stream"] for e in export if e["stream"].startswith("org_"))
    ndjson = run("audit", "--data", str(data_dir), "--org", org).stdout.splitlines()
    mine = [e for e in export if e["stream"] == org]
    assert [json.loads(line)["seq"] for line in ndjson] == [e["seq"] for e in reversed(mine)]
    joined = run("audit", "--data", str(data_dir), "--org", org, "--action", "member.joined", "--format", "json", "--limit", "3").stdout
    rows = json.loads(joined)
    assert 0 < len(rows) <= 3 and all(r["action"] == "member.joined" for r in rows)
    csv_text = run("audit", "--data", str(data_dir), "--org", org, "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "seq,at,actor,action,target,data"
    assert len(csv_text.splitlines()) == len(mine) + 1


def test_export_chain_checks_with_plain_python(data_dir):
    result = run("export", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 50
    schema = json.loads((ROOT / "schemas" / "envelope.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    prev = "0" * 64
    for number, line in enumerate(lines, start=1):
        envelope = json.loads(line)
        validator.validate(envelope)
        assert envelope["seq"] == number
        claimed = envelope.pop("hash")
        body = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert envelope["prev_hash"] == prev, f"seq {number}: prev_hash does not chain"
        assert hashlib.sha256(body).hexdigest() == claimed, f"seq {number}: hash mismatch"
        # The export line itself is canonical: re-serializing with hash gives the same bytes.
        envelope["hash"] = claimed
        assert json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == line
        prev = claimed


def test_export_after_seq(data_dir):
    full = run("export", "--data", str(data_dir)).stdout.splitlines()
    tail = run("export", "--data", str(data_dir), "--after", "10").stdout.splitlines()
    assert tail == full[10:]


def test_verify_names_the_seq_of_a_changed_byte(data_dir, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    data = (data_dir / "data.mdb").read_bytes()
    # Change one byte of the 7th event's actor in the stored JSON.
    lines = run("export", "--data", str(data_dir)).stdout.splitlines()
    target = json.loads(lines[6])
    del target["hash"]
    stored = json.dumps(target, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    offset = data.find(stored)
    assert offset >= 0
    changed = bytearray(data)
    index = offset + stored.find(b'"actor":"') + len(b'"actor":"')
    changed[index] ^= 0x01
    (copy / "data.mdb").write_bytes(bytes(changed))
    result = run("verify", "--data", str(copy))
    assert result.returncode == 1
    assert "FAILED at seq 7" in result.stderr


def test_missing_data_folder_is_a_clear_error(tmp_path):
    result = run("verify", "--data", str(tmp_path / "nothing"))
    assert result.returncode != 0
    assert "no OrgLedger data" in result.stderr
    assert not (tmp_path / "nothing").exists()


def rechain(envelopes):
    """Export lines for envelopes with prev_hash and hash recomputed as README.md says: a forged log whose
    chain verifies, so only the import's model rules can refuse it."""
    prev, lines = "0" * 64, []
    for envelope in envelopes:
        envelope = dict(envelope)
        envelope.pop("hash", None)
        envelope["prev_hash"] = prev
        body = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(body.encode()).hexdigest()
        envelope["hash"] = prev
        lines.append(json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def test_import_refuses_a_rechained_forgery_and_checks_the_expected_head(data_dir, tmp_path):
    envelopes = [json.loads(line) for line in run("export", "--data", str(data_dir)).stdout.splitlines()]
    honest = rechain(envelopes)
    head = json.loads(honest.splitlines()[-1])["hash"]
    ok = run("import", "--data", str(tmp_path / "ok"), "--expect-head", head, input=honest)
    assert ok.returncode == 0, ok.stderr
    wrong = run("import", "--data", str(tmp_path / "wrong"), "--expect-head", "0" * 64, input=honest)
    assert wrong.returncode == 1 and "not the expected" in wrong.stderr
    assert not (tmp_path / "wrong" / "data.mdb").exists()
    # system makes someone owner: a valid chain, an event the service could never have written.
    joined = next(e for e in envelopes if e["type"] == "member.joined" and e["version"] > 2)
    forged = envelopes + [dict(joined, seq=len(envelopes) + 1, actor="system", type="member.role_changed",
                               version=max(e["version"] for e in envelopes if e["stream"] == joined["stream"]) + 1,
                               data={"user_id": joined["data"]["user_id"], "from": joined["data"]["role"], "to": "owner"})]
    refused = run("import", "--data", str(tmp_path / "forged"), input=rechain(forged))
    assert refused.returncode == 1, refused.stdout
    assert f"seq {len(forged)}" in refused.stderr and "system" in refused.stderr
    assert not (tmp_path / "forged" / "data.mdb").exists()


def test_an_empty_import_and_an_unknown_org_are_errors(data_dir, tmp_path):
    empty = run("import", "--data", str(tmp_path / "empty"), input="")
    assert empty.returncode == 1 and "no events" in empty.stderr
    unknown = run("audit", "--data", str(data_dir), "--org", "org_" + "z" * 26)
    assert unknown.returncode == 1 and "no org" in unknown.stderr


def test_verify_of_a_randomly_corrupted_file_exits_1_never_by_a_signal(data_dir, tmp_path):
    """Bit flips anywhere in data.mdb: verify answers 0 (the flip hit unused space) or 1 with a message,
    and is never killed by a signal (LMDB may fault on a corrupt page: verify reads in a child)."""
    import random
    original = (data_dir / "data.mdb").read_bytes()
    rng = random.Random(20261201)
    outcomes = {0: 0, 1: 0}
    for case in range(60):
        copy = tmp_path / f"flip{case}"
        copy.mkdir()
        data = bytearray(original)
        for _ in range(rng.choice([1, 8, 64])):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        (copy / "data.mdb").write_bytes(bytes(data))
        result = run("verify", "--data", str(copy))
        assert result.returncode in (0, 1), f"case {case}: exit {result.returncode}: {result.stderr[-400:]}"
        if result.returncode == 1:
            assert result.stderr.strip(), f"case {case}: exit 1 without a message"
        outcomes[result.returncode] += 1
    assert outcomes[1] > 0, "no flip was noticed at all"


def test_verify_of_a_truncated_file_reports_it_instead_of_dying(data_dir, tmp_path):
    """A data file cut short (a copy interrupted, a full disk): its meta pages name pages past the end of
    the file, and LMDB reading them through its memory map dies of SIGBUS. verify must say so and exit 1."""
    copy = tmp_path / "cut"
    copy.mkdir()
    (copy / "data.mdb").write_bytes((data_dir / "data.mdb").read_bytes()[: 4 * 4096])
    result = run("verify", "--data", str(copy))
    assert result.returncode == 1, f"exit {result.returncode}: {result.stderr[-400:]}"
    assert "corrupt" in result.stderr

"""End-to-end checks of the built binaries, from outside Swift.

A real log is made by the crash-test child (orgledger-append-loop), killed with SIGKILL; then
`orgledger verify` and `orgledger export` are run as a user would, and the export is checked with
nothing but Python's standard library and jsonschema: the chain as README.md explains it, and every
envelope against schemas/envelope.schema.json.
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


def run(*args, **kwargs):
    return subprocess.run([str(BIN / "orgledger"), *args], capture_output=True, text=True, timeout=120, **kwargs)


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
    # Change one byte of the 7th event's payload: find its unique "n" value in the stored JSON.
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

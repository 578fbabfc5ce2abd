# Shared by scripts/run, scripts/test and scripts/bench: install what a fresh machine lacks.
# Debian packages (non-interactive) and pinned PyPI packages (pip); nothing is downloaded from anywhere else.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_lmdb() {
    apt_install liblmdb-dev pkg-config
}

ensure_swift() {
    command -v swift >/dev/null || { echo "swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
}

# The end-to-end tests' Python tools, pinned: Tests/e2e checks the schemas with jsonschema, PyYAML and
# openapi-spec-validator, and runs schemathesis against the live service (its generated cases depend on the
# version; test_schemathesis.py checks it is this one).
# rfc8785: the README's ten-line check of an export and its disclosure (Tests/e2e/test_people.py).
# scim2-tester and scim-sanity: the two independent SCIM conformance testers of issue #13 (httpx2: the
# HTTP engine scim2-client 0.13 drives).
PYTHON_TOOLS=(pytest==9.0.3 jsonschema==4.26.0 PyYAML==6.0.3 openapi-spec-validator==0.9.0 schemathesis==4.32.5 rfc8785==0.1.4
    "scim2-tester[httpx2]==0.5.2" scim-sanity==0.7.4
    cryptography==48.0.0)  # Ed25519: test_evidence.py checks a checkpoint's signature as an auditor would

ensure_python_tools() {
    python3 - "${PYTHON_TOOLS[@]}" 2>/dev/null <<'EOF' && return 0
import sys
from importlib.metadata import version
sys.exit(any(version(name.split("[")[0]) != wanted for name, _, wanted in (spec.partition("==") for spec in sys.argv[1:])))
EOF
    echo "==> installing ${PYTHON_TOOLS[*]} (pip)" >&2
    python3 -m pip install --quiet "${PYTHON_TOOLS[@]}" >&2
}

ensure_e2e_tools() {
    # util-linux: prlimit, for the file-descriptor limit test; lmdb-utils: mdb_dump, to read the events table's
    # bytes with a tool that is not ours; Go with golang.org/x/mod: the independent transparency-log verifier
    # (Tests/tlog-verifier), built offline against Debian's copy of sumdb/note and sumdb/tlog.
    apt_install faketime curl util-linux lmdb-utils golang-go golang-golang-x-mod-dev
}

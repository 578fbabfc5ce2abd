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

# PostgreSQL for the PostgreSQL backend's tests (issue #15): Debian's server, in a cluster of its own in a
# temporary folder, run as the `postgres` user when this runs as root (initdb refuses root); stopped and
# removed when the calling script exits. It listens on no TCP port, only on a socket in that folder (mode
# 0700): its trust authentication lets in no one but this folder's owner (and root). Exports
# ORGLEDGER_TEST_POSTGRES, the URL the tests make their databases with.
ensure_postgres() {
    apt_install postgresql
}

start_postgres() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    PG_DIR="$(mktemp -d /tmp/orgledger-pg.XXXXXX)"  # mode 0700
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$PG_DIR"
        as=(runuser -u postgres --)
    fi
    local port=5432  # only names the socket file: nothing listens on TCP
    "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 >"$PG_DIR/initdb.log"
    # fsync and synchronous_commit stay on: an acknowledged append is durable, as on a real server.
    "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $port -k $PG_DIR -c listen_addresses= -c max_connections=200" start >/dev/null
    PG_BIN="$bin"
    PG_AS=("${as[@]}")
    trap stop_postgres EXIT
    export ORGLEDGER_TEST_POSTGRES="postgres://postgres@localhost:$port/postgres?host=$PG_DIR"
    # How a test restarts this server under load (Tests/e2e/test_postgres.py).
    export ORGLEDGER_TEST_PG_CTL="${as[*]} $bin/pg_ctl -D $PG_DIR/data -l $PG_DIR/server.log -t 60 -o '-p $port -k $PG_DIR -c listen_addresses= -c max_connections=200'"
    echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on the socket in $PG_DIR" >&2
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}

# Shared by scripts/run, scripts/test and scripts/bench: install what a fresh machine lacks.
# Debian packages only, non-interactive; nothing is downloaded from anywhere else.
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

ensure_python_tools() {
    python3 -c "import pytest, jsonschema" 2>/dev/null && return 0
    echo "==> installing pytest and jsonschema (pip)" >&2
    python3 -m pip install --quiet pytest jsonschema >&2
}

ensure_e2e_tools() {
    apt_install faketime curl
}

#!/usr/bin/env bash
# Install the Debian packages the test suite needs, if any is missing (`make test` runs this).
#   scripts/system-deps.sh [--always] PACKAGE...
# As root on Debian it installs what is missing with apt-get; elsewhere it says what is missing and
# the tests that need it skip, each listed at the end of the run with `sudo make system-deps`.
set -euo pipefail
always=0
if [[ "${1:-}" == "--always" ]]; then always=1; shift; fi
missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if (( ${#missing[@]} == 0 && always == 0 )); then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "note: not a Debian system; tests that need ${missing[*]} will skip" >&2
    exit 0
fi
if (( EUID != 0 && always == 1 )); then
    echo "error: installing Debian packages needs root: sudo make system-deps" >&2
    exit 1
fi
if (( EUID != 0 )); then
    echo "note: missing Debian packages ${missing[*]}; tests that need them will skip" \
         "(install them with: sudo make system-deps)" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"

#!/usr/bin/env bash
# Build a local stand-in for the official `python:3.11-slim` image, for machines that can reach
# Debian's mirror and PyPI but no image registry (CI here). The project's Dockerfile then builds
# unchanged with the legacy builder (DOCKER_BUILDKIT=0), which uses a local tag without pulling.
#
# The stand-in is Debian 12 minbase with Debian's python3 (3.11), pip, venv and ca-certificates.
# The host's CA bundle and a pip `cert` setting go into the stand-in only (TLS-intercepting proxy):
# the project's Dockerfile carries none of it.
#
# Skips all work when the tag already exists, so a machine that keeps /var/lib/docker caches it.
# Usage: scripts/docker/base-image.sh [TAG]   (needs root, debootstrap and a running dockerd)
set -euo pipefail

TAG="${1:-python:3.11-slim}"
SUITE="${BASE_IMAGE_SUITE:-bookworm}"
HOST_CA="${BASE_IMAGE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base-image: $TAG already present, skipping"
    exit 0
fi

# The first Debian mirror configured on this machine (deb822 .sources files or sources.list).
debian_mirror() {
    local uri
    uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -E 'security|updates' | head -n1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(grep -hs -E '^deb [^[]*debian' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            | grep -v security | awk '{print $2}' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR="${BASE_IMAGE_MIRROR:-$(debian_mirror)}"
ROOTFS="$(mktemp -d /tmp/python-slim-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

echo "base-image: debootstrap $SUITE from $MIRROR"
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -n 40 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
echo "base-image: debootstrap took $((SECONDS - start)) s"

# Stand-in only: trust the proxy's CA (the whole host bundle) and point pip at it.
cp "$HOST_CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
cat >"$ROOTFS/etc/pip.conf" <<PIPCONF
[global]
cert = /etc/ssl/certs/ca-certificates.crt
PIPCONF

# Match the official image: `python` and `pip` on PATH, and pip may install (into venvs or not).
ln -sf python3 "$ROOTFS/usr/bin/python"
ln -sf pip3 "$ROOTFS/usr/bin/pip"
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
# Keep the image small: apt lists and caches, docs and man pages are not needed.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
# The mirror the stand-in's apt uses, as on the host.
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.description="local stand-in for python:3.11-slim (Debian python3)"' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
echo "base-image: $TAG built in $((SECONDS - start)) s"

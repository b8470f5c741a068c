#!/usr/bin/env bash
# Make a local stand-in for the public python:3.11-slim-bookworm base image from Debian's
# archive (the public registry cannot be reached from these machines), once: an existing
# image of that name is kept. Usage: container/podman/base.sh NAME:TAG
#
# The stand-in has what the Dockerfile relies on in the public image: `python` and `pip` on
# PATH, pip allowed to install into the system interpreter, CA certificates.
set -euo pipefail
name="${1:?usage: base.sh NAME:TAG}"
if podman image exists "$name"; then
    echo "base image $name exists (podman rmi $name to rebuild it)"
    exit 0
fi
rootfs="$(mktemp -d /var/tmp/cloudburst-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase \
    --include=python3.11,python3-pip,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian
cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python"
printf '#!/bin/sh\nexec python3.11 -m pip "$@"\n' >"$rootfs/usr/local/bin/pip"
chmod 755 "$rootfs/usr/local/bin/pip"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$name"

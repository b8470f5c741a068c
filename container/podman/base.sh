#!/usr/bin/env bash
# Make a local stand-in for the public python:3.11-slim-bookworm base image from Debian's
# archive (the public registry cannot be reached from these machines), once: an existing
# image of that name is kept. Usage: container/podman/base.sh NAME:TAG [ARCH]
#
# The stand-in has what the Dockerfile relies on in the public image: `python` and `pip` on
# PATH, pip allowed to install into the system interpreter, CA certificates.
# The Debian mirror is the one this machine's apt already uses (its sources files), read at
# run time: no mirror is named in the repository.
set -euo pipefail
name="${1:?usage: base.sh NAME:TAG [amd64|arm64]}"
arch="${2:-$(dpkg --print-architecture)}"
if podman image exists "$name"; then
    echo "base image $name exists (podman rmi $name to rebuild it)"
    exit 0
fi

# The first bookworm mirror in the machine's apt sources: deb822 files (URIs:/Suites:)
# or one-line `deb URI SUITE ...` entries. Security and updates suites are not the archive.
apt_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
               uri = ""; ok = 0
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/) { split($i, u, " "); uri = u[2] }
                 if ($i ~ /^Suites:/ && $i ~ /(^|[ \t])bookworm([ \t]|$)/) ok = 1
               }
               if (ok && uri != "") { print uri; exit }
             }' "$file"
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                           if ($(i + 1) == "bookworm") { print $i; exit } }' "$file"
    done
}
mirror="$(apt_mirror | head -n 1)"
if [ -z "$mirror" ]; then
    echo "base.sh: no bookworm entry in /etc/apt/sources.list{,.d/*}: cannot tell which Debian mirror to use" >&2
    exit 1
fi

rootfs="$(mktemp -d /var/tmp/cloudburst-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --arch="$arch" \
    --include=python3.11,python3-pip,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror"
# apt inside the image uses the machine's own sources, as the host does.
for file in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [ -f "$file" ] && cp "$file" "$rootfs$file"
done
rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python"
printf '#!/bin/sh\nexec python3.11 -m pip "$@"\n' >"$rootfs/usr/local/bin/pip"
chmod 755 "$rootfs/usr/local/bin/pip"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --arch "$arch" \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$name"

#!/usr/bin/env bash
# The lapor-hub OCI image, built with buildah from Debian's packages: no container registry
# is needed (none is reachable from the build machines). A minimal Debian root (debootstrap)
# with Python, the hub and its dependencies in /opt/lapor-hub, run as user 10001; no secrets.
#
#   deploy/image/build.sh [IMAGE]        (default lapor-hub:<version>, tagged latest too)
#
# Needs root (debootstrap), buildah and debootstrap (`make image` installs them with apt).
set -euo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
version="$("$python" -c 'import hub; print(hub.__version__)')"
image="${1:-lapor-hub:$version}"
# the wheels are built here, so the image's Debian must have this Python's version
py="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
case "$py" in
    3.11) default_suite=bookworm ;;
    3.13) default_suite=trixie ;;
    *) echo "build.sh: $python is Python $py; no Debian release ships it (3.11: bookworm," \
           "3.13: trixie). Make the venv with one of those." >&2; exit 2 ;;
esac
suite="${DEBIAN_SUITE:-$default_suite}"
if [ "$(id -u)" != 0 ]; then
    echo "build.sh: debootstrap and buildah mount need root: sudo make image" >&2
    exit 2
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"   # works inside containers and without overlayfs

wheels="$(mktemp -d)"
container=""
cleanup() {
    [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1 || true
    rm -rf "$wheels"
}
trap cleanup EXIT

echo "== wheels of the hub and every dependency (fetched here, with this machine's pip settings)"
"$python" -m pip wheel --quiet -w "$wheels" "$here"
if PATH="$HOME/.cargo/bin:$PATH" command -v cargo >/dev/null; then
    PATH="$HOME/.cargo/bin:$PATH" "$python" -m pip wheel --quiet --no-deps -w "$wheels" \
        "$here/native/textmatch"
fi

echo "== a minimal Debian $suite root"
container="$(buildah from scratch)"
root="$(buildah mount "$container")"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror" >/dev/null

echo "== the hub and its dependencies in /opt/lapor-hub"
mkdir -p "$root/tmp/wheels"
cp "$wheels"/*.whl "$root/tmp/wheels/"
chroot "$root" python3 -m venv /opt/lapor-hub
packages="lapor-hub"
if compgen -G "$wheels/lapor_textmatch-*.whl" >/dev/null; then packages="$packages lapor-textmatch"; fi
# a clean environment: this machine's pip settings (find-links, index) mean nothing inside
chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root \
    /opt/lapor-hub/bin/pip install --quiet --no-cache-dir --no-index \
    --find-links /tmp/wheels $packages
chroot "$root" groupadd --gid 10001 lapor
chroot "$root" useradd --uid 10001 --gid 10001 --home-dir /var/lib/lapor-hub --create-home \
    --shell /usr/sbin/nologin lapor
rm -rf "$root/tmp/wheels" "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
buildah unmount "$container" >/dev/null

buildah config \
    --entrypoint '["/opt/lapor-hub/bin/lapor-hub"]' --cmd '["--help"]' \
    --user 10001:10001 --workingdir /var/lib/lapor-hub \
    --env LAPOR_HUB_HOME=/var/lib/lapor-hub --env PYTHONUNBUFFERED=1 \
    --port 9400 \
    --label org.opencontainers.image.title=lapor-hub \
    --label org.opencontainers.image.version="$version" \
    --label org.opencontainers.image.description="The federated integration hub of SP4N-LAPOR!" \
    "$container"
buildah commit --quiet "$container" "$image" >/dev/null
buildah tag "$image" lapor-hub:latest
echo "built $image ($(buildah images --format '{{.Size}}' "$image" | head -1))"

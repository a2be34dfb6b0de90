#!/usr/bin/env bash
# What deploy/Dockerfile needs from outside, made on this machine and put where the build
# finds it, so that the build itself needs no network:
#
#   1. course-base:bookworm   Debian 12 (minbase) with Python 3.11 and the Debian tools the
#                             chapters use, made by mmdebstrap and `sandbox import`ed: the
#                             image the Dockerfile starts FROM.
#   2. deploy/wheels/         every Python package the image installs, as wheels, downloaded
#                             by this machine's pip (its index, proxy and certificates), which
#                             the Dockerfile installs with `pip install --no-index`.
#
#   deploy/make-base.sh [CACHE]      CACHE keeps the base's tar (default ~/.cache/sandbox-course)
#
# Why not `FROM python:3.11-slim-bookworm`?  It needs Docker Hub, and a classroom machine
# may reach only Debian's mirror and PyPI.  Why not pip inside RUN?  It works wherever the
# build container reaches PyPI directly; behind a proxy that re-signs TLS with its own
# authority (this course's CI), the container does not trust it, and a wheelhouse
# sidesteps that without baking a site's certificate into the image.
#
# Needs: mmdebstrap (Debian: apt-get install mmdebstrap), pip, and `sandbox` on PATH (or
# SANDBOX="python -m sandbox").  mmdebstrap runs as root, or rootless where user namespaces
# work (--mode=unshare); SOURCE_DATE_EPOCH makes the tar the same bytes on every run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-course}"
sandbox=(${SANDBOX:-sandbox})
python="${PYTHON:-python3}"
base=course-base:bookworm
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# The Debian tools the notebooks call, beside Python (./course installs the same on a host):
#   busybox-static  the course's `busybox` image is made from it
#   iproute2 procps ip and ps: the kernel's view, in every chapter
#   nftables        chapter 09's NAT and published ports
#   tcpdump         chapter 09 counts packets
#   slirp4netns passt  rootless networking (chapter 09)
#   umoci skopeo    chapter 06 and 07 move images through real OCI tools
#   docker-registry chapter 07 and exercise 07 start a registry on 127.0.0.1
# Left out: podman and runc (chapters only compare against them; ~100 MB, and nested
# podman needs its own configuration), iperf3 (bench/ only), openssl, linux-libc-dev (tests only).
packages=python3,python3-venv,ca-certificates,busybox-static,iproute2,procps,nftables,tcpdump
packages+=,slirp4netns,passt,umoci,skopeo,docker-registry

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

make_rootfs_tar() {
  local tar="$1"
  [ -s "$tar" ] && return
  say "making Debian $suite with Python in $tar (mmdebstrap, about 2 minutes)"
  mkdir -p "$(dirname "$tar")"
  # merged-usr hook: /bin -> usr/bin without the usrmerge package, which pulls in perl.
  # No documentation, manuals or translations: an image is not read by man.
  SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1717200000}" mmdebstrap \
    --variant=minbase --format=tar --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$suite" "$tar.partial" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" \
    "deb $security $suite-security main"
  mv "$tar.partial" "$tar"
}

import_base() {
  # Imported once per store: each import stamps a new creation time, so a second one
  # would be a new image and every build step after FROM would run again.
  if "${sandbox[@]}" image inspect "$base" >/dev/null 2>&1; then
    return
  fi
  say "importing it as $base"
  "${sandbox[@]}" import "$1" "$base" >/dev/null
}

download_wheels() {
  # for the image's Python (bookworm's 3.11) and this machine's processor, whatever runs pip
  local arch; arch="$(uname -m)"
  say "downloading the image's Python packages into deploy/wheels"
  mkdir -p "$here/wheels"
  "$python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    --python-version 3.11 --platform "manylinux2014_$arch" --platform "manylinux_2_28_$arch" \
    --implementation cp --dest "$here/wheels" -r "$here/requirements.txt"
}

command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing: apt-get install mmdebstrap"; exit 1; }
tar="$cache/course-base-$suite.tar"
make_rootfs_tar "$tar"
import_base "$tar"
download_wheels
say "done: sandbox build -t course -f deploy/Dockerfile ."

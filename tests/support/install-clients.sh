#!/usr/bin/env bash
# Installs the OCI clients the end-to-end tests drive, and unpacks Debian's
# docker.io (dockerd) without installing it, so no system docker service is
# set up. Idempotent: does nothing that is already done. Needs root (or sudo).
#
#   tests/support/install-clients.sh            # everything
#   ACP_TESTS_DOCKER_DIR=DIR  where dockerd is unpacked
#                              (default ${XDG_CACHE_HOME:-~/.cache}/acp-tests/docker)
set -euo pipefail

PACKAGES=(
  skopeo podman buildah containerd runc umoci busybox-static
  docker-registry apache2-utils jq wrk coreutils mount
)
DOCKER_DIR="${ACP_TESTS_DOCKER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acp-tests/docker}"

export DEBIAN_FRONTEND=noninteractive
SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo -E); fi

updated=0
apt_update_once() {
  if [ "$updated" = 0 ]; then
    "${SUDO[@]}" apt-get update -qq
    updated=1
  fi
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt_update_once
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$DOCKER_DIR/usr/sbin/dockerd" ]; then
  echo "unpacking docker.io into $DOCKER_DIR"
  apt_update_once
  download="$(mktemp -d)"
  # apt drops privileges to _apt for downloads: give it a directory it may write.
  chmod 0777 "$download"
  (cd "$download" && apt-get download -qq docker.io)
  mkdir -p "$DOCKER_DIR"
  dpkg-deb -x "$download"/docker.io_*.deb "$DOCKER_DIR"
  rm -rf "$download"
fi
"$DOCKER_DIR/usr/sbin/dockerd" --version

# The docker CLI: the machine's if there is one, else the unpacked one.
if ! command -v docker >/dev/null; then
  echo "no docker CLI on PATH; tests use $DOCKER_DIR/usr/bin/docker"
fi

for tool in skopeo podman buildah ctr containerd runc umoci docker-registry htpasswd; do
  command -v "$tool" >/dev/null || { echo "missing after install: $tool" >&2; exit 1; }
done
echo "OCI clients ready"

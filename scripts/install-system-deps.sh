#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the gateway and its tests use. Idempotent; needs root (or sudo).
set -euo pipefail
packages=(ffmpeg sip-tester baresip-core kamailio nginx-light libnginx-mod-rtmp sox)
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged services are not used: tests and the gateway start their own instances on free ports.
for svc in nginx kamailio; do $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; done

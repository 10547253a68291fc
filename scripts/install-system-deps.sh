#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the gateway needs (`runtime`: ffmpeg, CA certificates) or its tests need too (`test`: the
# real SIP peers, nginx-rtmp, sox, Chromium for the console test, Java for DynamoDB Local). Does nothing when they are there; needs root or sudo.
set -euo pipefail
mode=${1:-test}
# ca-certificates: what ffmpeg checks an rtmps:// server's certificate against.
packages=(ffmpeg ca-certificates)
if [ "$mode" = test ]; then
  packages+=(sip-tester baresip-core kamailio nginx-light libnginx-mod-rtmp sox chromium)
  command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged daemons are not used: the gateway and the tests start their own instances on free ports.
for service in nginx kamailio; do $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true; done

#!/usr/bin/env bash
# Installs the Debian packages the gateway needs (`runtime`: what builds the media task's RTP relay and ffmpeg,
# CA certificates) or its tests need too (`test`: Debian's ffmpeg and ffprobe to make and check media, the real
# SIP peers, nginx-rtmp, sox, Chromium for the console test, Java for DynamoDB Local). Does nothing when they
# are there; needs root or sudo.
set -euo pipefail
mode=${1:-test}
# ca-certificates: what ffmpeg checks an rtmps:// server's certificate against. gcc, libc6-dev: the media
# task's RTP relay is C (media-task/relay/build.sh). The rest builds the task's ffmpeg from Debian's source
# (media-task/ffmpeg/build.sh), once, when the bundle is first built.
packages=(ca-certificates gcc libc6-dev make dpkg-dev nasm pkg-config libx264-dev libfreetype-dev libfontconfig-dev libgnutls28-dev)
if [ "$mode" = test ]; then
  packages+=(ffmpeg sip-tester baresip-core kamailio nginx-light libnginx-mod-rtmp sox chromium)
  command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
fi
# What must be on the PATH afterwards, whichever way the packages got there.
commands=(cc make dpkg-source nasm pkg-config)
[ "$mode" = test ] && commands+=(ffmpeg ffprobe sipp baresip kamailio nginx sox java)
check_commands() {
  local absent=()
  for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || absent+=("$c"); done
  if [ "$mode" = test ] && [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then absent+=(ngx_rtmp_module.so); fi
  if [ ${#absent[@]} -gt 0 ]; then
    echo "still missing after the install: ${absent[*]}" >&2
    exit 1
  fi
}
missing=()
# dpkg -s also succeeds for a package removed but not purged ("deinstall ok config-files"): ask for its state.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  check_commands
  exit 0
fi
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
check_commands

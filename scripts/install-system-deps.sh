#!/usr/bin/env bash
# Installs the system packages the gateway needs, where apt is (Debian, Ubuntu); elsewhere it names what is
# missing. Does nothing when they are there; needs root or sudo to install.
#   runtime       what `npm start` needs: a C compiler for the media task's RTP relay (media-task/relay/build.sh),
#                 an ffmpeg (the distribution's, unless FFMPEG_PATH names one or `npm run build:ffmpeg` made
#                 the slim one), CA certificates for rtmps://
#   build-ffmpeg  runtime, and what builds the slim ffmpeg from Debian's source (media-task/ffmpeg/build.sh)
#   test          build-ffmpeg (the tests run the slim build, as the image does), and Debian's ffmpeg and
#                 ffprobe to make and check media, the real SIP peers, nginx-rtmp, sox, Chromium for the
#                 console test, Java for DynamoDB Local
set -euo pipefail
mode=${1:-test}
case "$mode" in runtime | build-ffmpeg | test) ;; *) echo "usage: $0 runtime|build-ffmpeg|test" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

packages=(ca-certificates gcc libc6-dev)
commands=(cc)
slim_built() { compgen -G 'node_modules/.cache/sip-rtmp-gateway/ffmpeg-*/ffmpeg' >/dev/null; }
# Any ffmpeg on the PATH will do for runtime, a static build too: the server checks it has what tasks use.
if [ "$mode" = runtime ] && [ -z "${FFMPEG_PATH:-}" ] && ! slim_built && ! command -v ffmpeg >/dev/null 2>&1; then
  packages+=(ffmpeg)
  commands+=(ffmpeg)
fi
if [ "$mode" != runtime ]; then
  packages+=(make dpkg-dev nasm pkg-config libx264-dev libfreetype-dev libfontconfig-dev libgnutls28-dev)
  commands+=(make dpkg-source nasm pkg-config)
fi
if [ "$mode" = test ]; then
  packages+=(ffmpeg sip-tester baresip-core kamailio nginx-light libnginx-mod-rtmp sox chromium)
  command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
  commands+=(ffmpeg ffprobe sipp baresip kamailio nginx sox java)
fi

absent_commands() {
  local absent=()
  for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || absent+=("$c"); done
  if [ "$mode" = test ] && [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then absent+=(ngx_rtmp_module.so); fi
  echo "${absent[*]}"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  # Not Debian or Ubuntu: only the commands can be checked, and the package manager is the user's.
  absent=$(absent_commands)
  [ -z "$absent" ] && exit 0
  echo "missing: $absent (on macOS: xcode-select --install for cc, brew install ffmpeg)" >&2
  exit 1
fi

# dpkg -s also succeeds for a package removed but not purged ("deinstall ok config-files"): ask for its state.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
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
fi
absent=$(absent_commands)
if [ -n "$absent" ]; then
  echo "still missing after the install: $absent" >&2
  exit 1
fi

#!/bin/sh
# Builds the media task's ffmpeg to $1: FFmpeg from Debian's own source package (the version and the security
# fixes of Debian's ffmpeg, its patches applied, its hardened toolchain), configured with only what the task's
# arguments use (components.txt). Debian's ffmpeg links some 200 libraries for codecs, filters and devices no
# call uses, which cost memory in every encoder (BENCHMARKS.md, "The task's own ffmpeg"); and what a peer's SDP or
# stream can reach is these demuxers and decoders, no others. The image's ffmpeg (the Dockerfile's ffmpeg stage),
# and locally `npm run build:ffmpeg`'s (media-task/ffmpeg/task-ffmpeg.ts).
# Needs Debian, network access to deb.debian.org, and: cc, dpkg-dev, nasm, pkg-config and the -dev packages of
# x264, freetype, fontconfig and gnutls (`scripts/install-system-deps.sh build-ffmpeg` installs them).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 <output file>" >&2; exit 2; }
out=$1
# --enable-<kind>=<names> for each line of components.txt: the one list of what the task uses.
enable=$(awk '!/^#/ && NF { printf " --enable-%s=", $1; for (i = 2; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : "") }' \
  "$(dirname "$0")/components.txt")
. /etc/os-release
if [ "${ID:-}" != debian ] || [ -z "${VERSION_CODENAME:-}" ]; then
  echo "the media task's ffmpeg is built from Debian's source on Debian; elsewhere set FFMPEG_PATH to an ffmpeg of your own" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A private apt state, so the system's sources and lists stay as they are; apt still checks the Release
# signature and the source files' hashes.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
cat > "$work/sources.list" <<SOURCES
deb-src [signed-by=$keyring] http://deb.debian.org/debian $VERSION_CODENAME main
deb-src [signed-by=$keyring] http://deb.debian.org/debian $VERSION_CODENAME-updates main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $VERSION_CODENAME-security main
SOURCES
apt() {
  apt-get -qq -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1 \
    -o APT::Sandbox::User="$(id -un)" "$@"
}
apt update
(cd "$work" && apt source ffmpeg >/dev/null)
cd "$work"/ffmpeg-*/
# --disable-autodetect: nothing links because the build machine happens to have it.
./configure --toolchain=hardened --extra-version=sip-rtmp-gateway \
  --disable-everything --disable-autodetect --disable-doc --disable-ffplay --disable-ffprobe \
  --enable-gpl --enable-libx264 --enable-gnutls --enable-libfreetype --enable-libfontconfig $enable \
  >configure.log || { tail -20 configure.log >&2; exit 1; }
make -j"$(nproc)" ffmpeg >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
install -m 755 ffmpeg "$out"

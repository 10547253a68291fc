#!/bin/sh
# Builds the media task's ffmpeg to $1: FFmpeg from Debian's own source package (the version and the security
# fixes of Debian's ffmpeg, its patches applied, its hardened toolchain), configured with only what the task's
# arguments use (pipeline/ffmpeg-args.ts, pipeline/relay-args.ts). Debian's ffmpeg loads 215 libraries for
# codecs, filters and devices no call uses: 52 MiB of RSS per encoder, 11 MiB of it private relocations; this
# one takes 10 MiB at the same CPU. And what a peer's SDP or stream can reach is these demuxers and decoders,
# no others. The one definition the local bundle (media-task/ffmpeg/task-ffmpeg.ts) and the Dockerfile's ffmpeg
# stage both use.
# Needs Debian, network access to deb.debian.org, and: cc, dpkg-dev, nasm, pkg-config and the -dev packages of
# x264, freetype, fontconfig and gnutls (scripts/install-system-deps.sh installs them).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 <output file>" >&2; exit 2; }
out=$1
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
  --enable-gpl --enable-libx264 --enable-gnutls --enable-libfreetype --enable-libfontconfig \
  `# in: the call's SDP on stdin and its RTP; the relay ports' MPEG-TS (whose reader confirms the codecs of` \
  `# its streams with the raw AAC and H.264 probes); the slate clip (MP4, looped)` \
  --enable-protocol=pipe,udp,rtp,file --enable-demuxer=sdp,rtp,mpegts,aac,h264,mov \
  --enable-decoder=pcm_mulaw,pcm_alaw,adpcm_g722,opus,h264,aac --enable-parser=h264,aac,opus \
  `# out: AAC, H.264 (waveform and slate: libx264), FLV to RTMP(S), MPEG-TS through tee to the relay ports` \
  --enable-encoder=aac,libx264 --enable-muxer=flv,mpegts,tee,mp4 \
  --enable-protocol=tcp,rtmp,tls,rtmps --enable-bsf=h264_mp4toannexb,aac_adtstoasc,extract_extradata \
  `# the slate (lavfi colour, drawtext; lavfi hands ffmpeg raw frames) and the waveform, with the filters` \
  `# ffmpeg inserts to convert between them` \
  --enable-indev=lavfi --enable-decoder=rawvideo,wrapped_avframe \
  --enable-filter=color,drawtext,asplit,showwaves,fps,format,scale,aresample,aformat,null,anull \
  >configure.log || { tail -20 configure.log >&2; exit 1; }
make -j"$(nproc)" ffmpeg >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
install -m 755 ffmpeg "$out"

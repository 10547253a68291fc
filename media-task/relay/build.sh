#!/bin/sh
# Compiles the RTP relay (rtp-relay.c) to $1: the one definition the bundle (media-task/bundle.ts) and the
# Dockerfile's relay stage both use. Needs a C compiler and libc headers (Debian: gcc libc6-dev).
set -eu
exec cc -O2 -Wall -Wextra -o "$1" "$(dirname "$0")/rtp-relay.c"

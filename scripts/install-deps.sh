#!/usr/bin/env bash
# Installs every Debian package Strata needs to build, test and run its demo.
# Idempotent: packages already present are not touched, and apt-get is not
# called at all when nothing is missing. Works as root or through sudo.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    clang clang-format                # the clang build and the format check (scripts/test.sh)
    libzmq3-dev                       # messaging (ROUTER/DEALER, CURVE)
    libsodium-dev                     # API tokens: random bytes, SHA-256 (libzmq's CURVE uses it too)
    libprotobuf-c-dev protobuf-c-compiler  # wire format
    libpq-dev postgresql-15           # durable state; server for the demo and tests
    libjansson-dev                    # JSON (64-bit integers kept exact)
    libfyaml-dev                      # YAML job specs and config
    libcriterion-dev                  # unit tests
    libopenmpi-dev openmpi-bin        # CPU collectives (training runtime)
    libopenblas-dev                   # matrix products for the reference trainer
    procps psmisc iproute2 jq         # process tools, ss for free ports, jq for integration tests
    python3 python3-zmq               # integration tests: raw frames at the scheduler's sockets
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or absent on a fresh machine; refresh once.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"

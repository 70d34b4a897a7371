#!/usr/bin/env bash
# deps.sh -- install the Debian packages hearth needs to build and test.
#
# Idempotent: it asks dpkg which packages are missing and apt-installs only
# those, so a second run costs a fraction of a second and needs no network.
# Run as root (CI is) or with sudo available.
#
# `deps.sh --train` adds what retraining the evaluation models needs
# (PyTorch, SentencePiece, and OpenBLAS, without which Debian's torch runs
# on the reference BLAS about 27 times slower).
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config git ccache ca-certificates
    libcmocka-dev pmccabe
    libevent-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libsqlite3-dev libpcre2-dev libyaml-dev libhttp-parser-dev
    python3 python3-pytest curl sqlite3
)
if [ "${1:-}" = "--train" ]; then
    pkgs+=(python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# node and npm: any install on PATH will do (Debian's or another vendor's).
if ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/hearth-deps.log 2>&1; then
    $sudo apt-get update >>/tmp/hearth-deps.log 2>&1 || true
    if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/hearth-deps.log 2>&1; then
        echo "deps: apt-get install failed (log: /tmp/hearth-deps.log); check the network and retry 'make'" >&2
        exit 1
    fi
fi

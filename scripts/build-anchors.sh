#!/usr/bin/env bash
# build-anchors.sh BUILD_DIR [JOBS] -- build llama.cpp's own llama-bench and
# llama-server from the same pinned source (third_party/llama.cpp) and with
# the same ggml options as hearth, so benchmarks compare like with like.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build-anchor}
jobs=${2:-$(nproc)}
native=${HEARTH_NATIVE:-ON}
launcher=()
if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
    # LLAMA_USE_PREBUILT_UI=OFF: otherwise the server build tries to download
    # a web UI and stalls without network.
    cmake -S "$root/third_party/llama.cpp" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE="$native" -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_ALL_WARNINGS=OFF -DGGML_ALL_WARNINGS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_NUMBER=0 \
        -DLLAMA_BUILD_COMMIT=v0.5.0 "${launcher[@]}" ${ANCHOR_CMAKE_FLAGS:-} >/dev/null
fi
cmake --build "$dir" -j "$jobs" --target llama-bench llama-server

#!/usr/bin/env bash
# fetch-llama.sh -- put the pinned llama.cpp source into third_party/llama.cpp.
#
# llama.cpp is taken from the npm package node-llama-cpp, which carries the
# source as a git bundle. The tarball is pinned by sha256 and the checked-out
# tree by its git tree hash, so a tampered or different download stops here.
# When the tree is already in place and matches, nothing is downloaded.
set -euo pipefail

NPM_PKG="node-llama-cpp@3.22.1"
TARBALL_SHA256="a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"
TREE_HASH="fd570ef54b10ec5fecb739e7e04c8ce44a6f415a"

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/llama.cpp"
cache="$root/third_party/.cache"
stamp="$dest/.hearth-tree"

die() {
    echo "fetch-llama: $*" >&2
    exit 1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$TREE_HASH" ]; then
    exit 0
fi

mkdir -p "$cache"
tgz="$cache/node-llama-cpp-3.22.1.tgz"
if [ ! -f "$tgz" ] || ! echo "$TARBALL_SHA256  $tgz" | sha256sum -c --status; then
    rm -f "$tgz"
    echo "fetch-llama: downloading $NPM_PKG from the npm registry (36 MB)"
    if ! (cd "$cache" && npm pack "$NPM_PKG" --silent >/dev/null 2>"$cache/npm.log"); then
        die "npm pack $NPM_PKG failed (see $cache/npm.log); check the network and retry 'make'"
    fi
fi
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$TARBALL_SHA256" ]; then
    rm -f "$tgz"
    die "sha256 mismatch for $NPM_PKG: got $got, want $TARBALL_SHA256; removed the download, retry 'make'"
fi

tmp=$(mktemp -d "$cache/extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle \
    || die "tarball has no package/llama/gitRelease.bundle; delete $tgz and retry 'make'"

rm -rf "$dest"
git clone --quiet "$tmp/package/llama/gitRelease.bundle" "$dest" 2>"$cache/clone.log" \
    || die "git clone of the llama.cpp bundle failed (see $cache/clone.log)"
tree=$(git -C "$dest" rev-parse 'HEAD^{tree}')
if [ "$tree" != "$TREE_HASH" ]; then
    rm -rf "$dest"
    die "llama.cpp tree hash is $tree, want $TREE_HASH; delete third_party/ and retry 'make'"
fi
echo "$TREE_HASH" >"$stamp"
echo "fetch-llama: llama.cpp ready in third_party/llama.cpp (tree $TREE_HASH)"

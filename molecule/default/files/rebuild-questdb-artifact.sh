#!/usr/bin/env bash
# Derives a second QuestDB artifact from a first one: the same release with one extra file
# (BUILD-INFO in the top folder), so its sha256 differs - a build change of the same version.
# Usage: rebuild-questdb-artifact.sh SOURCE.tar.gz DEST.tar.gz   (writes DEST and DEST.sha256)
set -euo pipefail
src="$1"
dest="$2"
top="$(basename "$src" .tar.gz)"
work="$(mktemp -d "$(dirname "$dest")/.rebuild.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$top"
printf 'tradewatch upgrade test: %s rebuilt from sha256 %s\n' "$top" "$(sha256sum "$src" | cut -d' ' -f1)" \
  >"$work/$top/BUILD-INFO"
gzip -dc "$src" >"$work/rebuilt.tar"
tar -rf "$work/rebuilt.tar" -C "$work" --owner=0 --group=0 --numeric-owner "$top/BUILD-INFO"
gzip -1 -c "$work/rebuilt.tar" >"$work/rebuilt.tar.gz"
(cd "$work" && sha256sum rebuilt.tar.gz | sed "s/rebuilt.tar.gz/$(basename "$dest")/" >"$dest.sha256")
mv "$work/rebuilt.tar.gz" "$dest"

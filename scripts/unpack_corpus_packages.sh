#!/usr/bin/env bash
# Fetches the Debian packages of the corpus's real sources (real_speech, real_fx:
# models/realsources.py) and unpacks them into DIR without installing anything, for
#
#   sampletree corpus build --sources all --pkgroot DIR
#
#   bash scripts/unpack_corpus_packages.sh ~/.cache/Sampletree/corpus-pkgs
#
# About 2 GB to download; 0ad-data alone is 1.38 GB and unpacks to a 3.3 GB public.zip (the
# builder reads only its audio/ members). The .debs are kept in DIR/debs; delete them
# afterwards if disk is short. Never add sonic-pi-samples, lmms-common or the real-sample
# validation set's packages here: the builder refuses them.
set -euo pipefail
dir="${1:?usage: $0 DIR}"
mkdir -p "$dir/debs"
cd "$dir/debs"
pkgs=(tuxpaint-stamps-default klettres-data kajongg asterisk-core-sounds-en-wav
      wesnoth-1.16-data openttd-opensfx 0ad-data)
apt-get download "${pkgs[@]}"
for p in "${pkgs[@]}"; do
  dpkg-deb -x "$(ls -1 "${p}"_*.deb | head -n 1)" "$dir"
done
echo "unpacked ${#pkgs[@]} packages into $dir"

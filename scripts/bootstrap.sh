#!/usr/bin/env bash
# Installs everything Sampletree needs on a Debian machine, then runs one job.
#
#   bash scripts/bootstrap.sh demo   # install, scan the demo library, label it from 2
#                                    # examples a class, print every file's label
#   bash scripts/bootstrap.sh test   # install, run ruff, the layer contracts and the tests
#
# Idempotent: apt packages are installed only when missing, the virtual environment
# (.venv, or $SAMPLETREE_VENV) is reused, and torch is pinned to the local CPU wheel
# (constraints.txt) so nothing pulls a multi-GB CUDA build.
set -euo pipefail

mode="${1:-demo}"
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
venv="${SAMPLETREE_VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac  # absolute from here (PATH below)

# -- system packages ---------------------------------------------------------------
apt_pkgs=(
  python3 python3-venv python3-pip ca-certificates
  # Qt (offscreen and a real X display) and QtMultimedia
  libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1
  libxcb-xkb1 libpulse0 libxrandr2
)
# the corpus builder's tests render notes from a General MIDI SoundFont and speak with
# espeak-ng; the playback test plays into a PulseAudio null sink of its own and records it
# (parec)
[ "$mode" = test ] && apt_pkgs+=(fluidsynth fluid-soundfont-gm espeak-ng pulseaudio pulseaudio-utils)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# -- Python environment --------------------------------------------------------------
py="$(command -v python3.11 || command -v python3)"
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating virtual environment $venv ($("$py" --version))"
  "$py" -m venv "$venv"
fi
log="$venv/install.log"
pip_install() {
  # pip's own chatter goes to a log; it is shown only when something fails.
  if ! "$venv/bin/python" -m pip install -c constraints.txt "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: pip install $* failed (full log: $log)" >&2
    exit 1
  fi
}
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "==> installing torch 2.13.0 (CPU)"
  pip_install torch==2.13.0
fi
extras="gui"
[ "$mode" = test ] && extras="gui,dev"
echo "==> installing Sampletree [$extras]"
pip_install -e ".[$extras]"
export PATH="$venv/bin:$PATH"

# -- the job -----------------------------------------------------------------------------
if [ "$mode" = demo ]; then
  # -- demo: begin (tests/app/test_bootstrap.py runs this part on its own)
  lib="${SAMPLETREE_DEMO_LIBRARY:-$PWD/.demo/library.sqlite}"
  # a copy beside the library (reused while intact, as the app's "Try the demo library"
  # does): a relabel in the app opened below must not move the clone's own files
  demo=$(python -c 'import sys; from core.demo import copy_demo; print(copy_demo(sys.argv[1]))' \
         "$(dirname "$lib")")
  echo "==> scanning the demo library into $lib"
  sampletree --library "$lib" scan "$demo"
  echo
  echo "==> a tree of the demo's folders, two examples each (the first two files)"
  if sampletree --library "$lib" tree list | grep -qx demo; then
    sampletree --library "$lib" tree rm demo >/dev/null  # a fresh tree on every run
  fi
  sampletree --library "$lib" tree create demo >/dev/null
  for class in Drums/Kick Drums/Snare Drums/Hi-hat Drums/Clap Drums/Toms Bass Keys Strings \
               "Brass & Winds" Synth Vocals; do
    files=("$demo/$class"/*)
    examples=("${files[@]:0:2}")
    if ! said=$(sampletree --library "$lib" tree add demo "$class" 2>&1 &&
                sampletree --library "$lib" label demo "$class" "${examples[@]}" 2>&1); then
      echo "$said" >&2
      exit 1
    fi
    echo "  $class: ${examples[0]##*/}, ${examples[1]##*/}"
  done
  echo
  echo "==> every file labeled from those 22 examples (sampletree classify demo)"
  sampletree --library "$lib" classify demo
  echo
  sampletree --library "$lib" status
  # -- demo: end
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${SAMPLETREE_NO_GUI:-}" ]; then
    echo "==> opening the app on the demo library (close its window to finish)"
    sampletree --library "$lib"
  fi
else
  echo "==> ruff"
  ruff check .
  echo "==> layer contracts (core/ and models/ never import Qt or app/)"
  lint-imports
  echo "==> tests"
  export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
  python -m pytest -q -p no:cacheprovider
fi

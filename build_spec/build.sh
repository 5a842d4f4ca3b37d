#!/usr/bin/env bash
# Builds the desktop app: one folder, dist/sampletree/ (run dist/sampletree/sampletree).
#
#   bash build_spec/build.sh               # from the repository root or anywhere
#
# Uses the virtual environment of scripts/bootstrap.sh (.venv, or $SAMPLETREE_VENV) and
# installs it first when it is missing or lacks the GUI packages; adds PyInstaller.
# Then builds with build_spec/sampletree.spec and runs the frozen app's self-test.
# Environment: SAMPLETREE_DIST (default dist), SAMPLETREE_WORK (default build: PyInstaller's
# work folder), SAMPLETREE_SKIP_SELF_TEST=1 to skip the check at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SAMPLETREE_VENV:-.venv}"
dist="${SAMPLETREE_DIST:-dist}"
work="${SAMPLETREE_WORK:-build}"
py="$venv/bin/python"

if ! "$py" -c 'import torch, PySide6.QtMultimedia, soundfile, soxr, av, app' 2>/dev/null; then
  echo "==> no build environment in $venv: installing it (scripts/bootstrap.sh demo)"
  SAMPLETREE_VENV="$venv" bash scripts/bootstrap.sh demo >/dev/null
fi
if ! "$py" -m PyInstaller --version >/dev/null 2>&1; then
  echo "==> installing PyInstaller"
  "$py" -m pip install -q -c constraints.txt "pyinstaller>=6.10,<7"
fi

echo "==> building $dist/sampletree with PyInstaller $("$py" -m PyInstaller --version)"
start=$(date +%s)
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" build_spec/sampletree.spec
echo "==> built in $(( $(date +%s) - start )) s: $(du -sh "$dist/sampletree" | cut -f1)"

if [ "${SAMPLETREE_SKIP_SELF_TEST:-0}" != 1 ]; then
  echo "==> self-test of the frozen app"
  QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" "$dist/sampletree/sampletree" --self-test \
    | tail -n 3
fi

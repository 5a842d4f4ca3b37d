#!/usr/bin/env bash
# The frozen app as a user meets it: window, map and playback, on a virtual X display with
# a virtual sound card. Needs xvfb, xdotool, pulseaudio and pulseaudio-utils (apt).
#
#   bash scripts/check_frozen_gui.sh [BINARY] [OUT]   # default dist/sampletree/sampletree, /tmp/frozen-check
#
# 1. The frozen binary scans resources/demo into a new library, makes a tree of the demo's
#    folders and labels two examples per class (its own CLI).
# 2. Under xvfb-run it opens the app on that library: the time until the window is mapped;
#    Ctrl+2 shows the map, screenshot OUT/map.png.
# 3. With a private PulseAudio server (null sink), a click on the first file of the library
#    table plays it (auto-play); the sink's monitor is recorded and compared with the file
#    decoded by soundfile: the correlation must be > 0.9. Screenshot OUT/library.png.
set -euo pipefail
cd "$(dirname "$0")/.."
st="$(realpath "${1:-dist/sampletree/sampletree}")"
out="$(realpath -m "${2:-/tmp/frozen-check}")"
py="${SAMPLETREE_VENV:-.venv}/bin/python"
for tool in xvfb-run xdotool pulseaudio parec pactl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt: xvfb xdotool pulseaudio pulseaudio-utils)" >&2; exit 2; }
done
rm -rf "$out"; mkdir -p "$out/home" "$out/pulse"
lib="$out/library.sqlite"; demo="$PWD/resources/demo"

echo "==> library made by the frozen binary"
"$st" --library "$lib" scan "$demo" 2>/dev/null | tail -n 1
"$st" --library "$lib" tree create Demo >/dev/null
for d in Bass "Brass & Winds" Keys Strings Synth Vocals Drums/Kick Drums/Snare Drums/Hi-hat Drums/Clap Drums/Toms; do
  "$st" --library "$lib" tree add Demo "$d" >/dev/null
  mapfile -t files < <(find "$demo/$d" -maxdepth 1 -type f ! -name '*.md' | sort | head -n 2)
  "$st" --library "$lib" label Demo "$d" "${files[@]}" >/dev/null 2>&1
done

echo "==> private PulseAudio server with a null sink"
HOME="$out/pulse" XDG_RUNTIME_DIR="$out/pulse" pulseaudio -n --daemonize=no --exit-idle-time=-1 \
  --use-pid-file=no -L "module-null-sink sink_name=check" \
  -L "module-native-protocol-unix socket=$out/pulse/native auth-anonymous=1" 2>/dev/null &
pulse=$!
trap 'kill $pulse 2>/dev/null || true' EXIT
export PULSE_SERVER="unix:$out/pulse/native"
for _ in $(seq 100); do pactl list short sinks >/dev/null 2>&1 && break; sleep 0.1; done

cat > "$out/session.sh" <<SESSION
#!/usr/bin/env bash
export HOME="$out/home" QT_QPA_PLATFORM=xcb
grab() { "$py" -c "from PySide6.QtWidgets import QApplication; a=QApplication([]); a.primaryScreen().grabWindow(0).save('\$1')"; }
t0=\$(date +%s.%N)
"$st" --library "$lib" >"$out/app.log" 2>&1 &
app=\$!
for _ in \$(seq 600); do
  wid=\$(xdotool search --name '^Sampletree' 2>/dev/null | head -n 1); [ -n "\$wid" ] && break; sleep 0.05
done
echo "window mapped after \$(echo "\$(date +%s.%N) - \$t0" | bc) s"
sleep 3
parec -d check.monitor --raw --format=s16le --rate=44100 --channels=1 "$out/played.raw" &
rec=\$!
sleep 0.5
xdotool mousemove 700 102 click 1   # the first row of the library table: auto-play
sleep 3
grab "$out/library.png"
kill \$rec
xdotool key ctrl+2
sleep 4
grab "$out/map.png"
kill \$app
SESSION
echo "==> the app under xvfb-run"
xvfb-run -a -s "-screen 0 1600x1000x24" bash "$out/session.sh"

echo "==> what came out of the sound card"
"$py" - "$out/played.raw" "$lib" <<'PYTHON'
import sqlite3, sys
import numpy as np, soundfile as sf
x = np.fromfile(sys.argv[1], np.int16).astype(np.float32) / 32768
if not np.abs(x).max(initial=0) > 0.01:
    sys.exit(f"FAILED: silence ({len(x) / 44100:.1f} s recorded)")
# the file the click played: the first by name, as the table sorts
path = sorted(sqlite3.connect(sys.argv[2]).execute("select path from samples"),
              key=lambda r: str(r[0]).rsplit("/", 1)[-1].lower())[0][0]
y, sr = sf.read(path, dtype="float32", always_2d=True)
y = y.mean(axis=1)
if sr != 44100:
    import soxr
    y = soxr.resample(y, sr, 44100)
c = np.correlate(x, y, "valid") if len(x) >= len(y) else np.zeros(1)
k = int(np.argmax(np.abs(c)))
r = float(np.corrcoef(x[k:k + len(y)], y)[0, 1]) if len(c) > 1 else 0.0
print(f"played {path.rsplit('/', 1)[-1]}: correlation with the file {r:.3f}, "
      f"{k / 44100:.2f} s after the recording started")
sys.exit(0 if r > 0.9 else "FAILED: what was played is not the file")
PYTHON
echo "screenshots: $out/library.png $out/map.png"

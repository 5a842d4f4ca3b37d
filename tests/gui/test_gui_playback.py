"""Audition for real: the app's Player plays a file into a PulseAudio null sink and what
comes out of the sink's monitor is recorded and checked (the right tone, for as long as
the file). A private PulseAudio server is started for the test; without the
``pulseaudio`` and ``parec`` programs (``bash scripts/bootstrap.sh test`` installs them)
the test is skipped, saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
RATE = 44_100

PLAY = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.gui import qtfix
qtfix.pin_none()
from app.gui.player import Player

app = QApplication([])
player = Player()
states = []
player.stateChanged.connect(states.append)
player.problem.connect(lambda m: print("problem:", m, flush=True))
print("available:", player.available, player.status_text, flush=True)
print("started:", player.play(sys.argv[1]), flush=True)
QTimer.singleShot(int(float(sys.argv[2]) * 1000), app.quit)
app.exec()
print("states:", states, flush=True)
"""


@pytest.fixture
def pulse(tmp_path: Path):
    """A PulseAudio server of our own with one null sink ``st_test``: its server string."""
    exe, rec = shutil.which("pulseaudio"), shutil.which("parec")
    if not exe or not rec:
        pytest.skip("needs pulseaudio and parec (apt: pulseaudio pulseaudio-utils)")
    rt = tmp_path / "pulse"
    rt.mkdir()
    sock = rt / "native"
    env = {**os.environ, "HOME": str(rt), "XDG_RUNTIME_DIR": str(rt)}
    proc = subprocess.Popen(
        [exe, "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "-L", "module-null-sink sink_name=st_test",
         "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = f"unix:{sock}"
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "-s", server, "list", "short", "sinks"],
                         capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            # the machine's doing (no shared memory, a sandbox), not the app's: say so
            proc.kill()
            pytest.skip(f"pulseaudio could not start here: {proc.communicate()[1][-500:]}")
        time.sleep(0.1)
    yield server, env
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_the_player_sends_the_file_to_the_audio_device(pulse, write_audio) -> None:
    server, env = pulse
    path = write_audio("tone 660.wav", seconds=1.0, sr=48_000, channels=2, freq=660.0,
                       amp=0.5)
    raw = path.with_suffix(".raw")
    env = {**env, "PULSE_SERVER": server, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(REPO)}
    env.pop("SAMPLETREE_NO_AUDIO", None)
    rec = subprocess.Popen(["parec", "-s", server, "-d", "st_test.monitor", "--raw",
                            "--format=s16le", f"--rate={RATE}", "--channels=1", str(raw)],
                           env=env, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        run = subprocess.run([sys.executable, "-c", PLAY, str(path), "3.0"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        time.sleep(0.3)
    finally:
        rec.terminate()
        rec.wait(10)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "available: True" in run.stdout and "started: True" in run.stdout, run.stdout
    assert "states: [True, False]" in run.stdout, run.stdout  # played, then ended by itself
    x = np.fromfile(raw, np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(x) > 0.05)
    assert len(loud), f"nothing came out of the device ({len(x) / RATE:.1f} s recorded)"
    sounding = (loud[-1] - loud[0]) / RATE
    assert 0.9 <= sounding <= 1.1, f"sound for {sounding:.2f} s, the file lasts 1 s"
    seg = x[loud[0]:loud[-1]]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    peak_hz = np.argmax(spectrum) * RATE / len(seg)
    print(f"device played {sounding:.3f} s at {peak_hz:.1f} Hz, peak {np.abs(seg).max():.2f}")
    assert abs(peak_hz - 660) < 5, f"the device played {peak_hz:.0f} Hz, the file is 660 Hz"
    assert 0.3 < np.abs(seg).max() < 0.7  # the file's level (0.5), not clipped or faint

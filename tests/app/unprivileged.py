"""Running the CLI in a child process that file permissions bind, even under root."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_unprivileged(*argv: str | Path) -> tuple[int, str, str]:
    """``sampletree ARGV`` in a child; as root, without the capabilities that let it
    read or write past a file's mode (skips the test where setpriv is missing)."""
    cmd = [sys.executable, "-m", "app", *map(str, argv)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot deny a read or a write")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *cmd]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr

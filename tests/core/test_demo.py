"""The demo library's working copy (core.demo): made whole or not at all, reused while
intact, never the bundled files themselves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.demo import COPY_NAME, DemoCopyError, bundled_demo, copy_demo, is_intact_copy


@pytest.fixture
def small_demo(tmp_path: Path) -> Path:
    src = tmp_path / "demo"
    (src / "Drums" / "Kick").mkdir(parents=True)
    (src / "Drums" / "Kick" / "k.wav").write_bytes(b"RIFF" + bytes(4000))
    (src / "Bass.wav").write_bytes(b"RIFF" + bytes(100))
    return src


def test_copy_then_reuse(small_demo: Path, tmp_path: Path) -> None:
    copy = copy_demo(tmp_path / "data", small_demo)
    assert copy == tmp_path / "data" / COPY_NAME and is_intact_copy(copy, small_demo)
    (copy / "labels.csv").write_text("added by a sidecar relabel")  # extra files: still intact
    assert copy_demo(tmp_path / "data", small_demo) == copy
    (copy / "Bass.wav").write_bytes(b"RIFF" + bytes(99))  # changed: a fresh copy beside it
    assert copy_demo(tmp_path / "data", small_demo) == tmp_path / "data" / f"{COPY_NAME} (2)"
    assert (copy / "Bass.wav").stat().st_size == 103  # the user's copy is left as it is


def test_the_bundled_demo_is_there() -> None:
    assert (bundled_demo() / "Drums").is_dir()


def test_a_full_disk_leaves_no_half_copy_and_says_why(small_demo: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        with pytest.raises(DemoCopyError) as info:
            copy_demo(small, small_demo)
        assert "could not copy the demo library to" in str(info.value)
        assert "No space left on device" in str(info.value), info.value
        assert list(small.iterdir()) == []  # no partial copy, no temporary folder
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_no_demo_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoCopyError, match="incomplete"):
        copy_demo(tmp_path, tmp_path / "none")

"""Walking sample folders (core/walk.py) over a real temporary file tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.walk import FileEntry, content_hash, walk


def _touch(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _walk(*roots: Path) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []
    entries = list(walk([str(r) for r in roots], lambda path, why: errors.append((path, why))))
    return entries, errors


def _rel(entries: list[FileEntry], root: Path) -> list[str]:
    return sorted(os.path.relpath(e.path, root) for e in entries)


def test_finds_audio_and_skips_hidden_system_and_other_files(tmp_path):
    root = tmp_path / "lib"
    for rel in [
        "kick.wav", "Snare.WAV", "hat.Flac", "sub/bass.aiff", "sub/deeper/pad.mp3",
        "loop.ogg",
        # skipped:
        ".hidden.wav", "._kick.wav", ".git/objects/x.wav", ".cache/deep/y.flac",
        "__MACOSX/sub/._bass.aiff", "__MACOSX/real.wav", "Thumbs.db", "desktop.ini",
        "notes.txt", "cover.jpg", "project.als", "kick.wav.asd", "noext",
    ]:
        _touch(root / rel)
    entries, errors = _walk(root)
    assert errors == []
    assert _rel(entries, root) == sorted([
        "kick.wav", "Snare.WAV", "hat.Flac", "loop.ogg",
        os.path.join("sub", "bass.aiff"), os.path.join("sub", "deeper", "pad.mp3"),
    ])
    assert all(e.root == str(root) for e in entries)


def test_entries_carry_size_and_mtime(tmp_path):
    root = tmp_path / "lib"
    path = _touch(root / "a.wav", b"x" * 1234)
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    (entry,) = _walk(root)[0]
    assert entry.path == str(path)
    assert entry.size == 1234
    assert entry.mtime_ns == 1_600_000_000_123_456_789


def test_upper_case_extensions_are_found(tmp_path):
    root = tmp_path / "lib"
    for name in ["A.WAV", "B.AIF", "C.FLAC", "D.MP3", "E.OGG", "F.WaV"]:
        _touch(root / name)
    entries, _ = _walk(root)
    assert _rel(entries, root) == ["A.WAV", "B.AIF", "C.FLAC", "D.MP3", "E.OGG", "F.WaV"]


def test_several_roots(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _touch(a / "1.wav")
    _touch(b / "2.wav")
    entries, _ = _walk(a, b)
    assert sorted((os.path.basename(e.path), e.root) for e in entries) == [
        ("1.wav", str(a)), ("2.wav", str(b)),
    ]


def test_missing_root_is_reported(tmp_path):
    _touch(tmp_path / "ok" / "x.wav")
    entries, errors = _walk(tmp_path / "missing", tmp_path / "ok")
    assert [os.path.basename(e.path) for e in entries] == ["x.wav"]
    assert len(errors) == 1 and errors[0][0] == str(tmp_path / "missing")


@pytest.mark.timeout(30)
def test_symlink_loop_terminates_and_is_reported(tmp_path):
    root = tmp_path / "lib"
    _touch(root / "top.wav")
    _touch(root / "sub" / "inner.wav")
    os.symlink("..", root / "sub" / "up")  # sub/up → lib: a loop
    os.symlink(".", root / "sub" / "self")  # sub/self → sub: a loop
    entries, errors = _walk(root)
    assert _rel(entries, root) == [os.path.join("sub", "inner.wav"), "top.wav"]
    reported = sorted(os.path.relpath(path, root) for path, _ in errors)
    assert reported == [os.path.join("sub", "self"), os.path.join("sub", "up")]
    assert all("loop" in why for _, why in errors)


def test_symlinked_folder_outside_the_root_is_followed_once(tmp_path):
    root = tmp_path / "lib"
    outside = tmp_path / "elsewhere"
    _touch(outside / "shared.wav")
    _touch(root / "own.wav")
    os.symlink(outside, root / "link1")
    os.symlink(outside, root / "link2")  # a second link to the same folder
    entries, errors = _walk(root)
    assert _rel(entries, root) == [os.path.join("link1", "shared.wav"), "own.wav"]
    assert [os.path.relpath(p, root) for p, _ in errors] == ["link2"]


def test_broken_symlink_to_a_file_is_reported(tmp_path):
    root = tmp_path / "lib"
    _touch(root / "ok.wav")
    os.symlink(tmp_path / "nowhere.wav", root / "dangling.wav")
    entries, errors = _walk(root)
    assert _rel(entries, root) == ["ok.wav"]
    assert [os.path.basename(p) for p, _ in errors] == ["dangling.wav"]


def test_unreadable_folder_is_reported_and_walk_continues(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    _touch(root / "a_before" / "1.wav")
    _touch(root / "locked" / "secret.wav")
    _touch(root / "locked" / "inner" / "deep.wav")
    _touch(root / "z_after" / "2.wav")
    _touch(root / "top.wav")
    locked = root / "locked"
    if os.geteuid() == 0:  # root reads anything: make this one folder unreadable by hand
        real_scandir = os.scandir

        def scandir(path=".", *args, **kwargs):
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path, *args, **kwargs)

        monkeypatch.setattr(os, "scandir", scandir)
        entries, errors = _walk(root)
    else:
        locked.chmod(0)
        try:
            entries, errors = _walk(root)
        finally:
            locked.chmod(0o755)
    assert _rel(entries, root) == [
        os.path.join("a_before", "1.wav"), "top.wav", os.path.join("z_after", "2.wav"),
    ]
    assert len(errors) == 1
    path, why = errors[0]
    assert path == str(locked)
    assert "permission denied" in why.lower()


def test_non_utf8_and_very_long_names_are_found(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    bad = os.path.join(str(root), os.fsdecode(b"bad\xff.wav"))
    with open(bad, "wb") as fh:
        fh.write(b"data")
    bad_dir = os.path.join(str(root), os.fsdecode(b"caf\xe9"))
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, "x.wav"), "wb") as fh:
        fh.write(b"data")
    long_name = "L" * 246 + ".wav"  # 250 characters
    _touch(root / long_name)
    long_dir = root / ("D" * 250)
    _touch(long_dir / "y.flac")

    entries, errors = _walk(root)
    assert errors == []
    paths = sorted(e.path for e in entries)
    assert paths == sorted([
        bad, os.path.join(bad_dir, "x.wav"), str(root / long_name), str(long_dir / "y.flac"),
    ])
    for entry in entries:
        assert entry.size == os.stat(entry.path).st_size  # the path string opens the file
    assert os.fsencode(bad).endswith(b"bad\xff.wav")  # round-trips to the original bytes


# -- content hash ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 10, 64 * 1024, 3 * 64 * 1024, 200 * 1024 + 7, 1_000_003])
def test_content_hash_equal_for_a_copy(tmp_path, size):
    data = os.urandom(size)
    a = _touch(tmp_path / "a.wav", data)
    b = _touch(tmp_path / "moved" / "renamed.wav", data)
    assert content_hash(str(a)) == content_hash(str(b))
    assert content_hash(str(a)) == content_hash(str(a), size)
    copy = tmp_path / "copy.wav"
    shutil.copy2(a, copy)
    assert content_hash(str(copy)) == content_hash(str(a))


@pytest.mark.parametrize("size", [200 * 1024 + 7, 1_000_003, 4 * 1024 * 1024])
def test_content_hash_changes_with_one_byte_in_the_middle(tmp_path, size):
    data = bytearray(os.urandom(size))
    a = _touch(tmp_path / "a.wav", bytes(data))
    data[size // 2] ^= 0x01
    b = _touch(tmp_path / "b.wav", bytes(data))
    assert content_hash(str(a)) != content_hash(str(b))


@pytest.mark.parametrize("where", ["start", "end"])
def test_content_hash_changes_with_one_byte_at_either_end(tmp_path, where):
    size = 1_000_003
    data = bytearray(os.urandom(size))
    a = _touch(tmp_path / "a.wav", bytes(data))
    data[0 if where == "start" else size - 1] ^= 0x80
    b = _touch(tmp_path / "b.wav", bytes(data))
    assert content_hash(str(a)) != content_hash(str(b))


def test_content_hash_small_file_hashed_whole(tmp_path):
    data = bytearray(os.urandom(150 * 1024))
    a = _touch(tmp_path / "a.wav", bytes(data))
    data[100 * 1024] ^= 0x01  # outside where the 3-chunk sampling would look
    b = _touch(tmp_path / "b.wav", bytes(data))
    assert content_hash(str(a)) != content_hash(str(b))


def test_content_hash_depends_on_size(tmp_path):
    a = _touch(tmp_path / "a.wav", b"\x00" * 1000)
    b = _touch(tmp_path / "b.wav", b"\x00" * 1001)
    assert content_hash(str(a)) != content_hash(str(b))

"""The corpus builder: MIDI, SoundFont rendering, Hydrogen kits, the stored format."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models import corpus as corpus_mod
from models.corpus import CLIP, SR, Corpus, CorpusError, CorpusOptions, Font, build, midi_file

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not FLUID.is_file(),
    reason="needs the fluidsynth and fluid-soundfont-gm packages (the test command installs "
           "them)")


def test_midi_file_is_well_formed():
    data = midi_file([(0.5, bytes([0x90, 60, 100])), (0.0, bytes([0xC0, 40])),
                      (1.5, bytes([0x80, 60, 0]))])
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert (length, fmt, ntracks, division) == (6, 0, 1, 1000)
    assert data[14:18] == b"MTrk"
    (track_len,) = struct.unpack(">I", data[18:22])
    assert len(data) == 22 + track_len
    track = data[22:]
    # events in time order: the program change (t = 0) before the note on (t = 0.5 s)
    assert track.index(bytes([0xC0, 40])) < track.index(bytes([0x90, 60, 100]))
    assert track.endswith(b"\xff\x2f\x00")
    # 500 ms = 500 ticks, as a variable-length quantity
    assert bytes([0x83, 0x74, 0x90, 60, 100]) in track


def test_missing_packages_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_mod.shutil, "which", lambda _name: None)
    opt = CorpusOptions(out=tmp_path, fonts=[Font("TimGM6mb", str(tmp_path / "nope.sf2"), "g")],
                        hydrogen=False, sources=())
    assert corpus_mod.check_requirements(opt) == ["fluidsynth", "timgm6mb-soundfont"]
    with pytest.raises(CorpusError, match="apt-get install fluidsynth timgm6mb-soundfont"):
        build(opt)


def test_opening_a_missing_or_damaged_corpus_says_what_to_do(tmp_path):
    with pytest.raises(CorpusError, match="corpus build"):
        Corpus.open(tmp_path)
    np.save(tmp_path / "clips.npy", np.zeros((2, CLIP), np.int16))
    (tmp_path / "clips.jsonl").write_text(json.dumps({"cls": "Kick", "source": "x",
                                                      "group": "g", "kind": "drum"}) + "\n")
    with pytest.raises(CorpusError, match="damaged"):
        Corpus.open(tmp_path)


def _kit(root: Path) -> Path:
    kit = root / "TestKit"
    kit.mkdir(parents=True)
    t = np.arange(SR) / SR
    for name, freq in (("kick.wav", 60), ("snare.flac", 200), ("djembe.wav", 300)):
        sf.write(str(kit / name), 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-5 * t), 44_100
                 if name.endswith("wav") else 48_000)
    (kit / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    (kit / "drumkit.xml").write_text("""<?xml version="1.0"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>TestKit</name><author>Someone Emillo</author>
 <instrumentList>
  <instrument><name>Kick Hard</name><layer><filename>kick.wav</filename></layer></instrument>
  <instrument><name>Snare Rimshot</name><layer><filename>snare.flac</filename></layer>
   <layer><filename>broken.wav</filename></layer></instrument>
  <instrument><name>Djembe Slap</name><layer><filename>djembe.wav</filename></layer>
  </instrument>
 </instrumentList>
</drumkit_info>""")
    return kit


def test_hydrogen_kits_map_instrument_names_to_classes(tmp_path, monkeypatch):
    _kit(tmp_path / "kits")
    monkeypatch.setattr(corpus_mod, "HYDROGEN_DIRS", [str(tmp_path / "kits")])
    import random

    found = [(c.cls, c.group, Path(p).name) for c, p in
             corpus_mod._hydrogen_clips(random.Random(0))]
    assert found == [("Kick", "emillo", "kick.wav"), ("Snare", "emillo", "snare.flac"),
                     ("Snare", "emillo", "broken.wav")]  # the djembe has no class
    assert corpus_mod._load_recording(tmp_path / "kits" / "TestKit" / "broken.wav") is None
    clip = corpus_mod._load_recording(tmp_path / "kits" / "TestKit" / "snare.flac")
    assert clip.shape == (CLIP,) and np.abs(clip).max() > 0.3


@needs_fluidsynth
def test_build_renders_notes_and_recordings(tmp_path, monkeypatch):
    _kit(tmp_path / "kits")
    monkeypatch.setattr(corpus_mod, "HYDROGEN_DIRS", [str(tmp_path / "kits")])
    opt = CorpusOptions(out=tmp_path / "c", programs=[0, 40], pitches=2, velocities=(60, 110),
                        lengths=(0.5,), drum_velocities=(100,),
                        fonts=[Font("FluidR3", str(FLUID), "fluidr3")], jobs=2, sources=())
    report = build(opt, log=lambda _m: None)
    c = Corpus.open(tmp_path / "c")
    by_class = c.by_class()
    assert len(by_class["Acoustic Grand Piano"]) == 4  # 2 pitches × 2 velocities × 1 length
    assert len(by_class["Violin"]) == 4
    assert len(by_class["Tom"]) == 6  # six GM tom notes × 1 velocity
    assert [c.meta[i].source for i in by_class["Kick"]].count("TestKit") == 1
    assert c.audio.dtype == np.int16 and c.audio.shape[1] == CLIP
    # every clip is sound, peak-normalised to -1 dBFS, its onset at the start
    peaks = np.abs(c.audio.astype(np.float32)).max(axis=1) / 32767
    assert np.allclose(peaks, 10 ** (-1 / 20), atol=2e-3)
    onset = np.abs(c.audio[:, : SR // 10].astype(np.float32)).max(axis=1) / 32767
    assert (onset > 0.05).mean() > 0.9
    assert report["classes"]["Violin"]["split"] == "val"
    assert report["classes"]["Kick"]["groups"] == {"fluidr3": 2, "emillo": 1}
    assert report["hours"] == pytest.approx(len(c.meta) * 1.5 / 3600, abs=1e-3)
    # reproducible: the same options give the same corpus
    build(CorpusOptions(**{**opt.__dict__, "out": tmp_path / "d"}), log=lambda _m: None)
    assert np.array_equal(np.load(tmp_path / "d" / "clips.npy"), np.asarray(c.audio))

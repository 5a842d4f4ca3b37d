"""The corpus's producer sources: procedural synth and FX, drum loops, GM phrases, vocals —
each deterministic on a small subset, sound of the right length, in the taxonomy."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from models import corpus as corpus_mod
from models import phrases, synth, vocals
from models.corpus import CLIP, SR, Corpus, CorpusError, CorpusOptions, Font, build
from models.taxonomy import Taxonomy

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not FLUID.is_file(),
    reason="needs the fluidsynth and fluid-soundfont-gm packages")
needs_espeak = pytest.mark.skipif(not vocals.available(), reason="needs the espeak-ng package")
PEAK = 10 ** (-1 / 20)


def _sane(y: np.ndarray, length: int) -> None:
    assert y.dtype == np.float32 and y.shape == (length,)
    assert np.isfinite(y).all()
    peak = float(np.abs(y).max())
    assert 0.5 < peak <= 1.0  # sound, and never above 0 dBFS (-1 dBFS after normalising)
    assert peak == pytest.approx(PEAK, abs=1e-4)


def test_every_new_class_has_a_builder_and_a_place_in_the_tree():
    tx = Taxonomy.load()
    by_source: dict[str, set[str]] = {}
    for name, info in tx.classes.items():
        if "source" in info:
            by_source.setdefault(info["source"], set()).add(name)
    assert set(by_source) == set(corpus_mod.ALL_SOURCES)  # version 3: + real_speech, real_fx
    assert by_source["synth"] == set(synth.SYNTH)
    assert by_source["fx"] == set(synth.FX)
    assert by_source["drum_loop"] == set(phrases.DRUM_STYLES)
    assert by_source["phrase"] == set(phrases.PHRASE_PROGRAMS)
    assert by_source["vocal"] == set(vocals.VOCAL_CLASSES)
    assert tx.ancestor("House Loop", 2) == "2:Loops"
    assert tx.ancestor("Reese Bass", 1) == "1:Synth Bass"  # beside the GM synth basses
    assert tx.lca_height("Reese Bass", "Synth Bass 1") == 1
    assert tx.ancestor("Vocal Chop", 2) == "2:Vocals"
    # each new family that has a test class keeps relatives in training
    assert {tx.split_of(c) for c in by_source["drum_loop"]} == {"train", "val", "test"}


def test_version_1_classes_keep_their_split():
    """Adding the producer's classes must not move a GM or drum class across the split:
    the protocol's test classes stay out of every training run."""
    tx = Taxonomy.load()
    v1 = sorted(f"{n}:{tx.split_of(n)}" for n, i in tx.classes.items() if "source" not in i)
    assert len(v1) == 154
    digest = hashlib.sha256("\n".join(v1).encode()).hexdigest()
    assert digest == V1_SPLIT_SHA256


# sha256 of the version-1 taxonomy's sorted "class:split" lines (models/taxonomy.json at
# commit ae1f6d3, before the producer's classes)
V1_SPLIT_SHA256 = "bc2d199245a8511c177a2e24ea09a12c6462a0cbba02d2fa938c5aa2ca00e87a"


def test_version_2_classes_keep_their_split():
    """Version 3's real-recording classes leave every version-2 class on its side, so
    results on the protocol's split stay comparable."""
    tx = Taxonomy.load()
    v2 = sorted(f"{n}:{tx.split_of(n)}" for n, i in tx.classes.items()
                if not str(i.get("source", "")).startswith("real_"))
    assert len(v2) == 184
    assert hashlib.sha256("\n".join(v2).encode()).hexdigest() == V2_SPLIT_SHA256


# the same for version 2 (models/taxonomy.json at commit 25605b7, before the real classes)
V2_SPLIT_SHA256 = "029bce80c73afb4c84c8f1df68235cbc31eb4115d4370d02bfa21fb45f616625"


@pytest.mark.parametrize("cls", sorted(synth.GENERATORS))
def test_synth_and_fx_are_deterministic_and_sane(cls):
    a = synth.render(cls, 0, 3)
    _sane(a, CLIP)
    assert a.tobytes() == synth.render(cls, 0, 3).tobytes()
    assert not np.array_equal(a, synth.render(cls, 0, 4))  # another clip
    assert not np.array_equal(a, synth.render(cls, 1, 3))  # another seed


def test_808_kick_is_low_and_hats_are_high():
    def centroid(y):
        mag = np.abs(np.fft.rfft(y))
        return float((np.fft.rfftfreq(len(y), 1 / SR) * mag).sum() / mag.sum())

    kicks = [centroid(synth.render("808 Kick", 0, i)) for i in range(4)]
    hats = [centroid(synth.render("Noise Hi-Hat", 0, i)) for i in range(4)]
    assert max(kicks) < 600 < 3000 < min(hats)


def _bank() -> phrases.Bank:
    t = np.arange(SR // 5) / SR
    click = (np.exp(-t / 0.01) * np.sin(2 * np.pi * 80 * t)).astype(np.float32)
    return {p: [click * (0.5 + 0.1 * k) for k in range(3)]
            for p in (*phrases.CORE, "Hand Clap", "Open Hi-Hat", "Tom", "Crash Cymbal",
                      "Conga", "Shaker", "Claves")}


@pytest.mark.parametrize("style", sorted(phrases.DRUM_STYLES))
def test_drum_loops_last_their_bars_at_their_tempo(style):
    bank = _bank()
    spec, loop = phrases.drum_loop(style, [bank], 0, 5)
    (lo, hi), _ = phrases.DRUM_STYLES[style]
    assert lo <= spec.bpm <= hi and spec.bars in (1, 2, 4)
    expected = round(spec.bars * 4 * 60 / spec.bpm * SR)
    assert phrases.loop_samples(spec.bpm, spec.bars) == expected
    _sane(loop, expected)
    assert all(0 <= s < 16 * spec.bars for s, _, _ in spec.events)
    spec2, loop2 = phrases.drum_loop(style, [bank], 0, 5)
    assert loop2.tobytes() == loop.tobytes() and spec2 == spec
    tempos = {phrases.drum_loop(style, [bank], 0, i)[0].bpm for i in range(8)}
    assert len(tempos) > 4


def test_a_drum_loop_hits_on_its_grid():
    """Kicks alone, straight time: the sound starts on the steps the pattern names."""
    t = np.arange(SR // 20) / SR
    kit = {"Kick": [np.exp(-t / 0.005).astype(np.float32)]}
    spec = phrases.LoopSpec("Rock Loop", 120.0, 2, 0.5, False,
                            [(0.0, "Kick", 1.0), (8.0, "Kick", 1.0), (16.0, "Kick", 1.0)])
    loop = phrases.render_drum_loop(spec, [kit], np.random.default_rng(0))
    assert len(loop) == 2 * SR * 2  # 2 bars of 4 beats at 120 BPM = 4 s
    step = SR // 8  # a 16th at 120 BPM
    env = np.abs(loop)
    for s in (0, 8, 16):
        assert env[s * step: s * step + 400].max() > 0.5
    assert env[4 * step: 7 * step].max() < 0.01


def test_swing_delays_the_off_sixteenths():
    kit = {"Kick": [np.r_[np.ones(4, np.float32), np.zeros(100, np.float32)]]}
    spec = phrases.LoopSpec("Boom Bap Loop", 90.0, 1, 0.66, False, [(1.0, "Kick", 1.0)])
    straight = phrases.LoopSpec("Boom Bap Loop", 90.0, 1, 0.5, False, [(1.0, "Kick", 1.0)])
    onset = [int(np.flatnonzero(phrases.render_drum_loop(s, [kit], np.random.default_rng(1)))[0])
             for s in (straight, spec)]
    step = 60 / 90 / 4 * SR
    assert onset[1] - onset[0] == pytest.approx(0.32 * step, abs=2)  # 0.66·2 − 1 steps later


def test_loop_window_starts_on_a_beat_and_wraps():
    bpm = 120.0
    loop = np.arange(phrases.loop_samples(bpm, 1), dtype=np.float32)  # 2 s
    for i in range(6):
        w = phrases.loop_window(loop, bpm, np.random.default_rng(i))
        assert len(w) == CLIP
        assert w[0] % (SR // 2) == 0  # a beat is 0.5 s
        assert np.all(np.diff(w) % len(loop) == 1)  # consecutive, wrapping round


def test_a_sparse_loop_never_gives_a_silent_window():
    """Sound only in the first 0.3 s of a 4-beat loop: a window must start where its first
    second (what training sees) holds that sound — beat 0, or beat 3 wrapping round."""
    bpm = 120.0
    loop = np.zeros(phrases.loop_samples(bpm, 1), np.float32)
    loop[: round(0.3 * SR)] = 0.5
    starts = set()
    for i in range(40):
        w = phrases.loop_window(loop, bpm, np.random.default_rng(i))
        assert np.abs(w[:SR]).max() > 0
        starts.add(int(np.flatnonzero(w)[0]))
    assert starts == {0, SR // 2}  # from beat 0, or from beat 3 (sound 0.5 s in)


def test_fold_wraps_what_rings_past_the_end():
    y = np.arange(1, 8, dtype=np.float64)  # 7 samples round a loop of 3
    assert phrases.fold(y, 3).tolist() == [1 + 4 + 7, 2 + 5, 3 + 6]
    assert phrases.fold(np.ones(3), 3).tolist() == [1, 1, 1]


@needs_fluidsynth
def test_phrases_render_as_loops_of_their_tempo(tmp_path):
    plan = [phrases.plan_phrase(c, synth.class_rng(0, "phrase", c, 0))
            for c in sorted(phrases.PHRASE_PROGRAMS)]
    loops = phrases.render_phrases(str(FLUID), plan, tmp_path)
    again = phrases.render_phrases(str(FLUID), plan, tmp_path)
    for ph, y, y2 in zip(plan, loops, again, strict=True):
        assert ph.program in phrases.PHRASE_PROGRAMS[ph.cls] and 70 <= ph.bpm <= 150
        _sane(y, phrases.loop_samples(ph.bpm, ph.bars))
        assert y.tobytes() == y2.tobytes()
        assert len({n[0] for n in ph.notes}) >= (1 if ph.cls == "Chord Progression" else 2)
    assert not list(tmp_path.iterdir())  # temporary MIDI and WAV files removed


@needs_espeak
@pytest.mark.parametrize("cls", vocals.VOCAL_CLASSES)
def test_vocals_are_deterministic_and_sane(cls):
    a, voice = vocals.render(cls, 0, 2)
    _sane(a, CLIP)
    assert "+" in voice and (("whisper" in voice) == (cls == "Whispered Phrase"))
    assert a.tobytes() == vocals.render(cls, 0, 2)[0].tobytes()
    assert not np.array_equal(a, vocals.render(cls, 0, 3)[0])


def test_missing_espeak_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_mod.shutil, "which", lambda name: None if name == "espeak-ng"
                        else "/usr/bin/" + name)
    opt = CorpusOptions(out=tmp_path, fonts=[], hydrogen=False)
    assert corpus_mod.check_requirements(opt) == ["espeak-ng"]
    assert corpus_mod.check_requirements(CorpusOptions(
        out=tmp_path, fonts=[], hydrogen=False, sources=("synth",))) == []
    with pytest.raises(CorpusError, match="apt-get install espeak-ng"):
        build(opt, log=lambda _m: None)


def _kit(root: Path) -> None:
    kit = root / "LoopKit"
    kit.mkdir(parents=True)
    t = np.arange(SR // 2) / SR
    names = {"kick.wav": 60, "snare.wav": 200, "hat.wav": 5000, "clap.wav": 1200}
    for name, freq in names.items():
        sf.write(str(kit / name), 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-12 * t), SR)
    inst = "".join(f"<instrument><name>{n}</name><layer><filename>{f}</filename></layer>"
                   "</instrument>" for n, f in (("Kick", "kick.wav"), ("Snare", "snare.wav"),
                                                ("Closed HH", "hat.wav"), ("Clap", "clap.wav")))
    (kit / "drumkit.xml").write_text(
        '<?xml version="1.0"?><drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">'
        f"<name>LoopKit</name><author>Someone Emillo</author><instrumentList>{inst}"
        "</instrumentList></drumkit_info>")


SUBSET = ["808 Kick", "Riser", "Vinyl Crackle", "House Loop", "Rock Loop", "Bass Line",
          "Arpeggio", "Spoken Phrase", "Vocal Chop"]


@needs_fluidsynth
def test_build_with_the_new_sources_is_reproducible(tmp_path, monkeypatch):
    _kit(tmp_path / "kits")
    monkeypatch.setattr(corpus_mod, "HYDROGEN_DIRS", [str(tmp_path / "kits")])
    sources = corpus_mod.EXTRA_SOURCES if vocals.available() else tuple(
        s for s in corpus_mod.EXTRA_SOURCES if s != "vocal")
    opt = CorpusOptions(out=tmp_path / "a", programs=[0], pitches=1, velocities=(100,),
                        lengths=(0.5,), drum_velocities=(100,), drums=False,
                        fonts=[Font("FluidR3", str(FLUID), "fluidr3")], jobs=2,
                        sources=sources, per_class=3, extra_classes=SUBSET)
    report = build(opt, log=lambda _m: None)
    c = Corpus.open(tmp_path / "a")
    by_class = c.by_class()
    built = [s for s in SUBSET if vocals.available() or ("Spoken" not in s and "Chop" not in s)]
    for cls in built:
        assert len(by_class[cls]) == 3, cls
    loops = [c.meta[i] for i in by_class["House Loop"]]
    assert {m.group for m in loops} == {"drum_loop:emillo"} and all(m.bpm > 0 for m in loops)
    assert all(m.length_s == pytest.approx(
        phrases.loop_samples(m.bpm, int(m.detail.split()[0])) / SR) for m in loops)
    assert report["classes"]["Bass Line"]["groups"] == {"phrase:fluidr3": 3}
    assert report["classes"]["808 Kick"]["groups"] == {"synth": 3}
    assert report["classes"]["House Loop"]["split"] == "test"
    assert set(report["seconds_by_source"]) == {"fonts+kits", *sources}
    # every clip is sound, peak -1 dBFS
    peaks = np.abs(c.audio.astype(np.float32)).max(axis=1) / 32767
    assert np.allclose(peaks, PEAK, atol=2e-3)
    # the same options give byte-identical audio and index
    build(CorpusOptions(**{**opt.__dict__, "out": tmp_path / "b"}), log=lambda _m: None)
    for f in ("clips.npy", "clips.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    # a clip does not depend on how many others are built: 2 a class are the first 2 of 3
    build(CorpusOptions(**{**opt.__dict__, "out": tmp_path / "s", "per_class": 2}),
          log=lambda _m: None)
    small = Corpus.open(tmp_path / "s")
    for cls in ("808 Kick", "House Loop", "Arpeggio"):
        assert np.array_equal(np.asarray(small.audio[small.by_class()[cls]]),
                              np.asarray(c.audio[by_class[cls][:2]]))


def test_cli_rejects_an_unknown_source(tmp_path, capsys):
    rc = main(["corpus", "build", "--out", str(tmp_path / "c"), "--sources", "synth,banjo"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("sampletree: error: unknown corpus source 'banjo'")
    assert not (tmp_path / "c").exists()


def test_cli_builds_only_the_sources_asked_for(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(corpus_mod, "build", lambda opt, **_k: seen.setdefault("opt", opt))
    assert main(["corpus", "build", "--out", str(tmp_path), "--sources", "none"]) == 0
    assert seen["opt"].sources == ()
    seen.clear()
    assert main(["corpus", "build", "--out", str(tmp_path), "--sources", "fx, synth",
                 "--per-class", "7"]) == 0
    assert seen["opt"].sources == ("fx", "synth") and seen["opt"].per_class == 7

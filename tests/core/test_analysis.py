"""core/analysis on synthetic signals whose answer is known: drum patterns at known tempi,
chord progressions in known keys, tones at known notes, noise; acid/smpl chunks written
here; names; loudness against the BS.1770 reference values."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.analysis import analyse, analyse_file
from core.analysis.chunks import acid_chunk, add_chunks, read_chunks, smpl_chunk
from core.analysis.keys import camelot, compatible_keys, note_name, parse_key, parse_note
from core.analysis.level import LevelMeter, bit_depth, k_weighting
from core.analysis.names import parse_name
from core.analysis.query import AnalysisFilter, mask, parse_bpm, parse_db_range, parse_keys
from core.errors import SampletreeError
from tests.analysis_signals import SR, _hit, drum_loop, one_shot, progression, write

# -- tempo and loops -----------------------------------------------------------------------

@pytest.mark.parametrize(("bpm", "bars"), [(90.0, 2), (120.0, 2), (128.0, 4), (174.0, 4),
                                           (75.0, 1)])
def test_a_drum_loop_gets_its_tempo_and_bars(tmp_path: Path, bpm: float, bars: int) -> None:
    a = analyse_file(write(tmp_path / "beat.wav", drum_loop(bpm, bars)))
    assert a.kind == "loop" and a.kind_source == "audio"
    assert a.bpm is not None and abs(a.bpm / bpm - 1) <= 0.02, a
    assert a.bpm_source == "audio" and a.bars == bars
    # the other reading is kept: half or double time
    assert a.bpm_alt is not None
    assert min(abs(a.bpm_alt / bpm - 2), abs(a.bpm_alt / bpm - 0.5)) < 0.03
    assert a.key is None, "a drum loop has no key"


def test_one_shots_are_one_shots_and_get_no_tempo(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    kick = np.concatenate([_hit("kick", rng), np.zeros(2000)])
    a = analyse_file(write(tmp_path / "k.wav", kick / np.abs(kick).max()))
    assert a.kind == "oneshot" and a.bpm is None and a.key is None
    b = analyse_file(write(tmp_path / "n.wav", one_shot(45, seconds=2.5)))
    assert b.kind == "oneshot" and b.bpm is None


# -- key and root note ---------------------------------------------------------------------

C, F, G, AM, DM, E, EM = ([60, 64, 67], [65, 69, 72], [67, 71, 74], [57, 60, 64],
                          [62, 65, 69], [64, 68, 71], [64, 67, 71])


@pytest.mark.parametrize(("chords", "key"), [
    ([C, F, G, C], "C"),
    ([AM, DM, E, AM], "Am"),
    ([[n + 7 for n in c] for c in (C, F, G, C)], "G"),
    ([[n + 5 for n in c] for c in (AM, DM, EM, AM)], "Dm"),
])
def test_chord_progressions_get_their_key(tmp_path: Path, chords: list[list[int]],
                                          key: str) -> None:
    a = analyse_file(write(tmp_path / "prog.wav", progression(chords)))
    assert a.kind == "loop" and a.key == key and a.key_source == "audio", a


@pytest.mark.parametrize("midi", [28, 36, 42, 57, 64, 72, 81])
def test_a_tonal_one_shot_gets_its_root_note(tmp_path: Path, midi: int) -> None:
    a = analyse_file(write(tmp_path / "note.wav", one_shot(midi)))
    assert a.kind == "oneshot" and a.root_midi == midi and a.root_source == "audio"
    assert a.root_note == note_name(midi)


def test_noise_and_drums_get_no_key_and_no_root_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    burst = rng.normal(0, 0.3, SR) * np.exp(-t * 6)
    a = analyse_file(write(tmp_path / "noise.wav", burst))
    assert a.root_midi is None and a.key is None
    wash = rng.normal(0, 0.2, 4 * SR)  # a noise bed: long, loud to the end
    b = analyse_file(write(tmp_path / "wash.wav", wash))
    assert b.key is None and b.root_midi is None


# -- tags and names ------------------------------------------------------------------------

def _wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_acid_and_smpl_chunks_are_read_and_win_over_the_audio(tmp_path: Path) -> None:
    loop = drum_loop(120.0, 2)
    path = tmp_path / "acid.wav"
    path.write_bytes(add_chunks(_wav_bytes(loop), acid_chunk(bpm=121.5, beats=8)))
    facts = read_chunks(path)
    assert facts.bpm == 121.5 and facts.beats == 8 and facts.oneshot is False
    a = analyse_file(path)
    assert (a.bpm, a.bpm_source, a.bars, a.kind, a.kind_source) == (121.5, "tag", 2.0, "loop",
                                                                    "tag")
    assert sf.info(str(path)).frames == len(loop), "the file still decodes"
    note = tmp_path / "smpl.wav"
    note.write_bytes(add_chunks(_wav_bytes(one_shot(57)), smpl_chunk(50)))
    b = analyse_file(note)
    assert (b.root_midi, b.root_source) == (50, "tag")  # the file's word, not our ear
    shot = tmp_path / "acid-shot.wav"
    shot.write_bytes(add_chunks(_wav_bytes(one_shot(57)), acid_chunk(oneshot=True, root=45)))
    c = analyse_file(shot)
    assert (c.kind, c.kind_source, c.root_midi, c.root_source, c.bpm) == (
        "oneshot", "tag", 45, "tag", None)


def test_a_default_smpl_unity_note_does_not_override_a_clear_pitch(tmp_path: Path) -> None:
    note = tmp_path / "default.wav"
    note.write_bytes(add_chunks(_wav_bytes(one_shot(45)), smpl_chunk(60)))
    a = analyse_file(note)
    assert (a.root_midi, a.root_source) == (45, "audio")


def test_chunks_of_other_files_give_nothing(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEacid\xff\xff\xff\x7f")
    assert read_chunks(tmp_path / "x.wav").bpm is None
    write(tmp_path / "y.flac", one_shot(60))
    assert read_chunks(tmp_path / "y.flac").unity_note is None
    assert read_chunks(tmp_path / "missing.wav").bpm is None


@pytest.mark.parametrize(("name", "bpm", "key", "root", "kind"), [
    ("Kick_Loop_124bpm_Am.wav", 124, "Am", None, "loop"),
    ("120 BPM - F#min.wav", 120, "F#m", None, None),
    ("Bass_C2.wav", None, None, 36, None),
    ("Piano_F#3.aif", None, None, 54, None),
    ("Pad One Shot.wav", None, None, None, "oneshot"),
    ("Loop_95_Dm.wav", 95, "Dm", None, "loop"),
    ("bpm128 house loop Gmaj.wav", 128, "G", None, "loop"),
    ("Synth Stab Bb minor.wav", None, "Bbm", None, None),
    ("Vox_Csm_90bpm.wav", 90, "C#m", None, None),
    ("Kick A.wav", None, None, None, None),
    ("Snare 01.wav", None, None, None, None),
    ("Hat_Closed_128.wav", None, None, None, None),  # a bare number is no tempo here
    ("Guitar key of E minor.wav", None, "Em", None, None),
    ("Guitar of E.wav", None, None, None, None),
    ("Guitar key E minor.wav", None, "Em", None, None),
    ("package_audio_A0v10.ogg", None, None, 21, None),  # a velocity layer after the note
    ("Piano_C4_v127.wav", None, None, 60, None),
    ("Strum_Bflat_major_01.wav", None, "Bb", None, None),  # accidentals spelled out
    ("Pad E flat minor.wav", None, "Ebm", None, None),
    ("Deep_flat_kick.wav", None, None, None, None),
    ("a flat pad.wav", None, None, None, None),  # a lowercase letter is no note
    ("Bass_e_sharp_hit.wav", None, None, None, "oneshot"),
    ("Pad E FLAT minor.wav", None, "Ebm", None, None),
    ("Strum_Asharp_min7b5_01.wav", None, None, None, None),  # a chord's name, no key
    ("F#_m7_stab.wav", None, None, None, None),
])
def test_names_state_tempo_key_note_and_type(name: str, bpm: float | None, key: str | None,
                                             root: int | None, kind: str | None) -> None:
    facts = parse_name(name)
    assert (facts.bpm, facts.key, facts.root_midi, facts.kind) == (bpm, key, root, kind)


def test_a_name_wins_over_the_audio_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "Groove_Loop_100bpm_Em.wav", drum_loop(120.0, 2))
    a = analyse_file(path)
    assert (a.bpm, a.bpm_source, a.key, a.key_source, a.kind_source) == (
        100.0, "name", "Em", "name", "name")


# -- loudness, peak, bit depth -------------------------------------------------------------

def test_k_weighting_matches_the_standards_table_at_48k() -> None:
    (sb, sa), (hb, ha) = k_weighting(48_000)
    np.testing.assert_allclose(sb, [1.53512485958697, -2.69169618940638, 1.19839281085285],
                               atol=1e-9)
    np.testing.assert_allclose(sa, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-9)
    np.testing.assert_allclose(ha, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-9)
    np.testing.assert_allclose(hb, [1.0, -2.0, 1.0])


@pytest.mark.parametrize("rate", [44_100, 48_000, 96_000])
def test_loudness_of_reference_sines(rate: int) -> None:
    t = np.arange(rate * 5) / rate
    sine = np.sin(2 * np.pi * 997 * t) * 10 ** (-23 / 20)
    mono = LevelMeter(rate, 1)
    for a in range(0, len(sine), 10_000):  # fed in blocks, as the decoder reads
        mono.feed(sine[a:a + 10_000, None])
    assert mono.lufs == pytest.approx(-26.0, abs=0.1)  # one channel of −23 dBFS
    assert mono.peak_db == pytest.approx(-23.0, abs=0.01)
    stereo = LevelMeter(rate, 2)
    stereo.feed(np.stack([sine, sine], axis=1))
    assert stereo.lufs == pytest.approx(-23.0, abs=0.1)  # BS.1770's reference level


def test_gating_ignores_silence_and_short_files_are_one_block() -> None:
    rate = 48_000
    t = np.arange(rate * 2) / rate
    tone = np.sin(2 * np.pi * 1000 * t) * 0.1
    with_silence = np.concatenate([tone, np.zeros(rate * 6)])
    m = LevelMeter(rate, 1)
    m.feed(with_silence)
    alone = LevelMeter(rate, 1)
    alone.feed(tone)
    # the silence is gated out (an ungated mean would be 6 dB lower); only the blocks
    # straddling the tone's end pull it down a little
    assert m.lufs == pytest.approx(alone.lufs, abs=0.5)
    short = LevelMeter(rate, 1)
    short.feed(tone[: rate // 10])  # 100 ms: shorter than one 400 ms block
    assert short.lufs == pytest.approx(alone.lufs, abs=0.3)
    silent = LevelMeter(rate, 1)
    silent.feed(np.zeros(rate))
    assert silent.lufs is None and silent.peak_db is None
    # a click of 20 ms still has a loudness; a file of a few samples has none (a one-sample
    # file read −2.7 LUFS), though its peak is what it is
    click = LevelMeter(rate, 1)
    click.feed(tone[: rate // 50])
    assert click.lufs is not None
    for n in (1, 5, rate // 200):
        tiny = LevelMeter(rate, 1)
        tiny.feed(np.full(n, 0.9))
        assert tiny.lufs is None and tiny.peak_db == pytest.approx(20 * math.log10(0.9), abs=0.01)


def test_a_scan_measures_peak_and_loudness_on_the_files_own_samples(tmp_path: Path) -> None:
    t = np.arange(SR * 3) / SR
    left = np.sin(2 * np.pi * 1000 * t) * 10 ** (-6 / 20)
    path = write(tmp_path / "st.wav", np.stack([left, np.zeros_like(left)], axis=1),
                 subtype="PCM_24")
    a = analyse_file(path)
    assert a.peak_db == pytest.approx(-6.0, abs=0.01)  # the mono mix would say −12
    assert a.lufs == pytest.approx(-9.0 + 0.0, abs=0.2)  # one channel at −6 dBFS


@pytest.mark.parametrize(("subtype", "bits"), [("PCM_16", 16), ("PCM_24", 24), ("PCM_32", 32),
                                              ("FLOAT", 32), ("DOUBLE", 64), ("PCM_U8", 8),
                                              ("VORBIS", None), ("MPEG_LAYER_III", None),
                                              ("ALAC_20", 20), (None, None)])
def test_bit_depth_from_the_subtype(subtype: str | None, bits: int | None) -> None:
    assert bit_depth(subtype) == bits


# -- keys, Camelot, filters ----------------------------------------------------------------

def test_key_names_and_the_camelot_wheel() -> None:
    assert parse_key("A minor") == (9, True) and parse_key("Gb") == (6, False)
    assert parse_key("8A") == (9, True) and parse_key("H") is None
    assert camelot(0, False) == "8B" and camelot(9, True) == "8A" and camelot(7, False) == "9B"
    assert camelot(8, True) == "1A"  # G#m
    assert compatible_keys(9, True) == ["Am", "C", "Dm", "Em"]
    assert parse_note("F#2") == 42 and parse_note("C-1") == 0 and note_name(42) == "F#2"


def test_filters_match_alternatives_and_root_notes() -> None:
    flt = AnalysisFilter(bpm=parse_bpm("120-128"), keys=parse_keys("Am", compatible=True))
    got = mask(flt, bpm=np.array([124.0, 62.0, 124.0, np.nan, 90.0]),
               bpm_alt=np.array([62.0, 124.0, 248.0, np.nan, 180.0]),
               key=np.array(["C", "Am", "F#", "", "Am"], dtype=object),
               root=np.array([-1, -1, -1, 45, -1]),
               kind=np.array(["loop"] * 5, dtype=object), lufs=np.full(5, np.nan))
    assert got.tolist() == [True, True, False, False, False]
    only_key = AnalysisFilter(keys=("Am",))
    got = mask(only_key, bpm=np.full(3, np.nan), bpm_alt=np.full(3, np.nan),
               key=np.array(["", "", "C"], dtype=object), root=np.array([45, 47, 57]),
               kind=np.array(["oneshot"] * 3, dtype=object), lufs=np.full(3, np.nan))
    assert got.tolist() == [True, False, False]  # an A one-shot fits A minor


def test_analyse_never_claims_anything_on_silence() -> None:
    a = analyse(np.zeros(16_000 * 2, np.float32), 16_000, 2.0)
    assert (a.kind, a.bpm, a.key, a.root_midi) == (None, None, None, None)
    assert math.isclose(a.version, a.version)


def test_a_held_note_cut_while_it_still_sounds_is_a_one_shot(tmp_path: Path) -> None:
    """A sustained note or pad cut at 1.2–1.7 s (loops in GUS patches and many sample packs)
    still sounds at its end but holds one event: not a loop, no tempo from its length."""
    from tests.analysis_signals import SR, _tone

    for seconds in (1.2, 1.5, 1.7):
        t = np.arange(round(seconds * SR)) / SR
        y = _tone(57, t) * np.minimum(1, t / 0.01) * (1 - 0.1 * t / seconds)  # held, no fade
        a = analyse_file(write(tmp_path / f"held{seconds}.wav", 0.6 * y / np.abs(y).max()))
        assert a.kind == "oneshot", (seconds, a)
        assert a.bpm is None


def test_a_patch_note_that_enters_its_sustain_loop_is_a_one_shot(tmp_path: Path) -> None:
    """A sampler patch (GUS .pat, SoundFont) rendered to 1.5 s: the attack, a decay, then its
    sustain loop at a steady level, whose start is one more onset (the tone's colour jumps).
    On our real-sample set such freepats notes read as one bar at ~160 BPM; one onset after
    the attack at a steady level is still one held note."""
    t = np.arange(round(1.5 * SR)) / SR
    loop_at = 0.6
    env = np.minimum(1.0, t / 0.01) * np.where(t < loop_at, 10 ** (-0.4 * t / loop_at), 10 ** -0.4)
    y = sum(a * np.sin(2 * np.pi * 330 * k * t) for k, a in ((1, 1.0), (2, 0.5), (3, 0.3)))
    y = y + (t >= loop_at) * sum(a * np.sin(2 * np.pi * 330 * k * t)
                                 for k, a in ((5, 0.4), (6, 0.3), (7, 0.2)))
    a = analyse_file(write(tmp_path / "patch.wav", 0.5 * env * y / np.abs(env * y).max()))
    assert a.kind == "oneshot", a
    assert a.bpm is None


@pytest.mark.parametrize(("text", "want"), [
    ("-20:-10", (-20.0, -10.0)), ("-20..-10", (-20.0, -10.0)), ("-10:-20", (-20.0, -10.0)),
    ("-20 to -10", (-20.0, -10.0)), ("-14", (-15.0, -13.0)), ("-14 LUFS", (-15.0, -13.0)),
    ("\u221214.5", (-15.5, -13.5)), ("-20:", (-20.0, math.inf)), ("-20 to", (-20.0, math.inf)),
    (":-10", (-math.inf, -10.0)), ("to -10", (-math.inf, -10.0)),
])
def test_loudness_filters_take_one_value_open_ends_and_words(text: str,
                                                             want: tuple[float, float]) -> None:
    """Review: "-14", "-20:", ":-10" and "-20 to -10" were refused (only a:b was a range)."""
    assert parse_db_range(text) == want


@pytest.mark.parametrize("text", ["", ":", "loud", "to", "-20 to -10 to", "-20:-10:", "--14"])
def test_a_loudness_filter_that_is_not_one_is_an_error(text: str) -> None:
    with pytest.raises(SampletreeError, match="is not a loudness or a range"):
        parse_db_range(text)


def test_an_open_loudness_range_never_matches_files_with_no_loudness() -> None:
    lufs = np.array([-25.0, -14.2, -8.0, np.nan])
    n = len(lufs)

    def keep(text: str) -> list[bool]:
        return mask(AnalysisFilter(lufs=parse_db_range(text)), bpm=np.full(n, np.nan),
                    bpm_alt=np.full(n, np.nan), key=np.full(n, "", dtype=object),
                    root=np.full(n, -1), kind=np.full(n, "", dtype=object), lufs=lufs).tolist()

    assert keep("-20:") == [False, True, True, False]
    assert keep(":-10") == [True, True, False, False]  # silence (no loudness) is not "quiet"
    assert keep("-14") == [False, True, False, False]

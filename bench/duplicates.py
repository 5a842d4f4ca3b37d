"""What finding duplicates costs on a large library.

    python -m bench.duplicates [--files 100000] [--repeat 5] [--dir DIR]

Builds (once, kept in DIR) a library of ``--files`` embedded files shaped like a sample
library: durations log-uniform 0.1–10 s (median 1 s), one window per 0.5 s (at most 20),
the shipped network's 128 dimensions, embeddings around 24 class centres (so files of a
class are each other's near neighbours, as kicks are), and a fingerprint per file:
decoded-audio hash and a synthetic near-duplicate signature (random decays and
waveforms in the stored layout). 2 % of the files are exact copies of another file and
5 % near copies (embedding, duration, envelope and waveform slightly changed, gain
shifted). Prints the median time of ``find_duplicates`` (exact only, and exact + near)
(the first near search, which fills the library's mean embeddings, timed apart) and of
``sampletree duplicates --near --json`` in a new process, with the groups found. CPU
seconds are this process's (both cores' BLAS threads count).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 128
CLASSES = 24


def _signatures(rng: np.random.Generator, n: int, durations: np.ndarray) -> list[bytes]:
    from core import dupsig

    out = []
    frames = np.arange(dupsig.ENV_FRAMES)
    for i in range(n):
        n_env = int(min(dupsig.ENV_FRAMES, max(1, np.ceil(durations[i] * 100))))
        decay = rng.uniform(0.2, 3.0)
        env = -6.0 - decay * frames[:n_env] + rng.normal(0, 1.5, n_env)
        env = np.clip(np.round(2 * (env + 100)), 0, 255).astype(np.uint8)
        n_snip = int(min(dupsig.SNIP_LEN, max(16, durations[i] * dupsig.SNIP_RATE)))
        snip = np.zeros(dupsig.SNIP_LEN, np.int8)
        t = np.arange(n_snip)
        freq = float(np.exp(rng.uniform(np.log(40), np.log(3500))))  # log-uniform pitch
        wave = (np.sin(2 * np.pi * freq * t / dupsig.SNIP_RATE)
                + rng.normal(0, 0.5, n_snip)) * np.exp(-t / (n_snip / 3 + 1))
        snip[:n_snip] = np.round(wave / np.abs(wave).max() * 127).astype(np.int8)
        header = np.zeros(1, dupsig._HEADER)
        header[0] = (dupsig.SIG_VERSION, 0.0, -6.0, n_env, n_snip)
        # the later stretch: the same tone further on, with its own noise
        n_late = int(min(dupsig.LATE_LEN, max(0.0, durations[i] - dupsig.LATE_START_S)
                         * dupsig.LATE_RATE))
        tl = np.arange(n_late)
        late = (np.sin(2 * np.pi * freq * tl / dupsig.LATE_RATE + rng.uniform(0, 6.3))
                + rng.normal(0, 0.5, n_late))
        out.append(header.tobytes() + env.tobytes() + snip.tobytes()
                   + _late_bytes(late.astype(np.float32), -12.0)
                   + dupsig._spectrum(snip[:n_snip].astype(np.float32) / 127).tobytes())
    return out


def _late_bytes(late: np.ndarray, late_db: float) -> bytes:
    """The later stretch as a signature stores it (core.dupsig._late)."""
    from core import dupsig

    q = np.zeros(dupsig.LATE_LEN, np.int8)
    n = len(late)
    if n:
        q[:n] = np.clip(np.round(late / max(float(np.abs(late).max()), 1e-9) * 127),
                        -127, 127).astype(np.int8)
    head = np.zeros(1, dupsig._LATE_HEADER)
    head[0] = (n, late_db)
    return head.tobytes() + q.tobytes()


def _near_copy(rng: np.random.Generator, blob: bytes) -> bytes:
    from core import dupsig

    s = dupsig.parse(blob)
    assert s is not None
    head = bytearray(blob[:dupsig._HEADER.itemsize])
    gain = rng.uniform(-6, 6)
    env = np.clip(np.round(2 * (s.env + gain + rng.normal(0, 0.1, len(s.env)) + 100)),
                  0, 255).astype(np.uint8)
    snip = s.snip + rng.normal(0, 0.02, len(s.snip)) * (np.arange(len(s.snip)) < s.n_snip)
    q = np.clip(np.round(snip / max(np.abs(snip).max(), 1e-9) * 127), -127, 127)
    late = (np.zeros(0, np.float32) if s.late is None
            else s.late + rng.normal(0, 0.02 * float(np.abs(s.late).max()), len(s.late)))
    return (bytes(head) + env.tobytes() + q.astype(np.int8).tobytes()
            + _late_bytes(late.astype(np.float32), -12.0)
            + dupsig._spectrum((q[:s.n_snip] / 127).astype(np.float32)).tobytes())


def build(path: Path, n_files: int, seed: int = 0) -> None:
    from core.library import Library

    rng = np.random.default_rng(seed)
    lib = Library(path)
    model = lib.ensure_model("bench-1-0", name="bench", version="1", sha256="0", dim=DIM,
                             trained=True, features={})
    centers = rng.standard_normal((CLASSES, DIM)).astype(np.float32) * 1.5
    cls = rng.integers(0, CLASSES, n_files)
    vec = centers[cls] + rng.standard_normal((n_files, DIM)).astype(np.float32)
    dur = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n_files))
    sigs = _signatures(rng, n_files, dur)
    hashes = [hashlib.blake2b(str(i).encode(), digest_size=20).hexdigest()
              for i in range(n_files)]
    n_exact, n_near = int(0.02 * n_files), int(0.05 * n_files)
    picks = rng.permutation(n_files)
    for k, i in enumerate(picks[:n_exact + n_near]):
        src = int(picks[-1 - k])  # a copy of a file not itself a copy
        vec[i], dur[i], cls[i] = vec[src], dur[src], cls[src]
        if k < n_exact:
            hashes[i], sigs[i] = hashes[src], sigs[src]
        else:
            vec[i] = vec[src] + rng.standard_normal(DIM).astype(np.float32) * 0.15
            dur[i] = max(0.05, dur[src] + rng.uniform(-0.1, 0.1))
            sigs[i] = _near_copy(rng, sigs[src])
    n_win = np.minimum(20, np.maximum(1, np.ceil(dur / 0.5))).astype(int)
    with lib.transaction() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.executemany(
            "INSERT INTO samples (id, path, size, mtime_ns, status, model_id, n_windows, "
            "duration_s, sample_rate, channels, format, subtype, scanned_at) "
            "VALUES (?, ?, 1000, 0, 'ok', ?, ?, ?, 44100, 2, 'WAV', 'PCM_16', 0)",
            [(i + 1, f"/bench/{i // 1000:03d}/file{i:06d}.wav", model, int(n_win[i]),
              float(dur[i])) for i in range(n_files)])
        raw.executemany(
            "INSERT INTO dup_signatures (sample_id, audio_hash, signature) VALUES (?, ?, ?)",
            [(i + 1, hashes[i], sigs[i]) for i in range(n_files)])
        for a in range(0, n_files, 5000):
            rows = []
            for i in range(a, min(n_files, a + 5000)):
                w = n_win[i]
                emb = (vec[i] + rng.standard_normal((w, DIM)).astype(np.float32) * 0.3)
                blobs = emb.astype(np.float16)
                rows += [(i + 1, k, 0.5 * k, blobs[k].tobytes(), model) for k in range(w)]
            raw.executemany("INSERT INTO windows (sample_id, idx, start_s, loudness_db, "
                            "embedding, model_id) VALUES (?, ?, ?, -20, ?, ?)", rows)
    lib.close()


def decode_cost(folder: Path, repeat: int) -> tuple[float, float, int]:
    """CPU seconds to decode every audio file under ``folder`` as a scan's workers do (all
    segments, in this process), with the duplicate fingerprints and without them (the
    hash and signature replaced by no-ops); medians of ``repeat`` alternating runs."""
    import core.audio as audio

    files = sorted(p for p in folder.rglob("*")
                   if p.suffix.lower() in audio.AUDIO_EXTENSIONS and p.is_file())
    params = audio.WindowParams()
    infos = [(f, audio.probe(f)) for f in files]

    class _NoHash(audio.PcmHasher):
        def update(self, block: np.ndarray, first: int) -> None:
            pass

    def run() -> None:
        for f, info in infos:
            for k0, k1 in audio.plan_segments(info, params):
                audio.decode_segment(f, info, params, k0, k1)

    real_hasher, real_sig = audio.PcmHasher, audio.dup_signature
    with_s, without_s = [], []
    try:
        for _ in range(repeat):  # CPU time of this process: steadier on a shared machine
            t0 = time.process_time()
            run()
            with_s.append(time.process_time() - t0)
            audio.PcmHasher, audio.dup_signature = _NoHash, lambda y, rate: b""
            t0 = time.process_time()
            run()
            without_s.append(time.process_time() - t0)
            audio.PcmHasher, audio.dup_signature = real_hasher, real_sig
    finally:
        audio.PcmHasher, audio.dup_signature = real_hasher, real_sig
    return statistics.median(with_s), statistics.median(without_s), len(files)


def _median_s(fn, repeat: int) -> tuple[float, object, float]:
    """Median wall time, the last result, and the median CPU time of this process (on a
    machine other jobs share, the CPU time is the steadier figure)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), out, statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-dups")
    ap.add_argument("--decode-cost", type=Path, metavar="FOLDER", default=None,
                    help="instead: what the fingerprints add to decoding the files in FOLDER")
    args = ap.parse_args(argv)
    if args.decode_cost is not None:
        with_s, without_s, n = decode_cost(args.decode_cost, args.repeat)
        print(f"decoding {n} files: {with_s:.2f} CPU s with the duplicate fingerprints, "
              f"{without_s:.2f} s without (+{100 * (with_s / without_s - 1):.1f} %), "
              f"medians of {args.repeat}")
        return 0

    from core.duplicates import find_duplicates
    from core.library import Library

    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"lib-{args.files}.sqlite"
    if not db.exists():
        print(f"building {db} …", file=sys.stderr)
        t0 = time.perf_counter()
        build(db, args.files)
        print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    lib = Library(db)
    exact_s, exact, exact_cpu = _median_s(lambda: find_duplicates(lib), args.repeat)
    # the first near search after a scan averages the files' windows and keeps the means
    # (dup_means); the next ones read them
    with lib.transaction() as conn:
        conn.connection.dbapi_connection.execute("DELETE FROM dup_means")
    first_s, _, first_cpu = _median_s(lambda: find_duplicates(lib, near=True), 1)
    near_s, near, near_cpu = _median_s(lambda: find_duplicates(lib, near=True), args.repeat)
    lib.close()

    def cli() -> None:
        subprocess.run([sys.executable, "-m", "app.cli", "--library", str(db), "duplicates",
                        "--near", "--json"], check=True, capture_output=True,
                       env={**os.environ, "SAMPLETREE_BACKUPS": "0"})

    cli_s, _, _ = _median_s(cli, max(1, args.repeat // 2))
    print(f"| step ({args.files:,} files, median of {args.repeat}) | wall s | CPU s | groups |")
    print("| --- | --- | --- | --- |")
    print(f"| find_duplicates, exact | {exact_s:.2f} | {exact_cpu:.2f} | "
          f"{len(exact.groups)} |")  # type: ignore[attr-defined]
    print(f"| find_duplicates, exact + near ({near.candidates:,} pairs checked) | "  # type: ignore[attr-defined]
          f"{near_s:.2f} | {near_cpu:.2f} | {len(near.groups)} |")  # type: ignore[attr-defined]
    print(f"| find_duplicates, exact + near, first search (fills dup_means) | {first_s:.2f} | "
          f"{first_cpu:.2f} | |")
    print(f"| `sampletree duplicates --near --json` (new process) | {cli_s:.2f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

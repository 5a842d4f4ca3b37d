"""Per-file embeddings of a real-set manifest from a pretrained "teacher" network, cached.

Evaluation only: run it with the training-only venv, never the app's (the teachers'
TensorFlow/old-librosa stacks are not Sampletree dependencies)::

    python3.11 -m venv /root/venvs/teachers
    /root/venvs/teachers/bin/pip install -c constraints.txt torch==2.13.0 \\
        "tensorflow==2.21.*" tf_keras soundfile librosa tqdm
    /root/venvs/teachers/bin/pip install --no-deps aisfx==0.1.2 musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /root/venvs/teachers/bin/python scripts/teacher_embed.py \\
        --teacher musicnn --set ~/.cache/Sampletree/realset \\
        --out ~/.cache/Sampletree/realset-emb/musicnn.npz

(``--no-deps``: aisfx pins numpy 1.23 and librosa 0.9.2, which TensorFlow 2.21 cannot use;
both run on the current ones.) Writes an ``.npz`` with ``paths`` (the manifest's relative
paths) and ``emb`` (one row a file: the mean of the teacher's block embeddings), which
``python -m models.realeval NAME=npz:FILE`` reads.

* ``aisfx`` 0.1.2 (Cross-dataset sound-effects CNN, CC BY 4.0 weights): 44.1 kHz, peak
  normalised, 96-band HTK mel (n_fft 2048, hop 1024), log10(1e4·x + 1), min-max scaled as
  the package's "original" setting, blocks of 100 frames (~2.3 s) every 50; 512-d. Clips
  shorter than a block are zero-padded by the package's own ``blocking`` (its hop check,
  which rejects them, is bypassed). The checkpoint loads with ``weights_only=True``.
* ``musicnn`` 0.1.0 (``MSD_musicnn``): 16 kHz, 96-band mel (n_fft 512, hop 256),
  log10(1e4·x + 1) in float32 (the package casts to float16 first, which overflows), 3 s
  patches (zero-padded); ``max_pool`` features (753-d). A failed weight restore raises
  (the package's own extractor ignores it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _load_mono(path: Path, sr: int) -> np.ndarray:
    import soundfile as sf
    import soxr

    y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if file_sr != sr:
        y = soxr.resample(y, file_sr, sr, quality="HQ").astype(np.float32)
    return y


class Aisfx:
    name = "aisfx"

    def __init__(self) -> None:
        import torch
        from aisfx import inference, preprocessing
        from aisfx.models.cnn2d import CrossNet, EmbeddingNet

        torch.set_num_threads(int(os.environ.get("TEACHER_THREADS", "2")))
        self.torch, self.inf, self.pre = torch, inference, preprocessing
        # the checkpoint pickles one numpy scalar (named by its numpy 1.x path) and dtypes
        scalar = getattr(np, "_core", np.core).multiarray.scalar
        allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype,
                   type(np.dtype("float64")), type(np.dtype("int64"))]
        with torch.serialization.safe_globals(allowed):
            weights, ds_dict = torch.load(inference.get_path_modelWeights(),
                                          map_location="cpu", weights_only=True)
        self.model = CrossNet(EmbeddingNet("max", 3, 1, 64), ds_dict, "cpu")
        self.model.load_state_dict(weights)
        self.model.eval()

    def embed(self, path: Path) -> np.ndarray:
        import librosa

        inf = self.inf
        y = _load_mono(path, int(inf.SAMPLE_RATE))
        peak = float(np.max(np.abs(y))) or 1.0
        y = y / peak
        spec = librosa.feature.melspectrogram(
            y=y, sr=inf.SAMPLE_RATE, n_mels=inf.MEL_BINS, norm=1.0, fmin=inf.F_MIN,
            fmax=inf.F_MAX, htk=True, power=2.0, hop_length=inf.SPEC_HOP_LENGTH,
            win_length=inf.SPEC_BLOCK_LENGTH, n_fft=inf.SPEC_BLOCK_LENGTH)
        spec = np.log10(spec.astype(np.float32) * 10000.0 + 1).T  # frames × mels
        spec = self.pre.spectrogram_normalize(spec, spec_norm="original")
        block = inf.EMB_BLOCK_LENGTH
        blocks = self.pre.blocking(spec, block_size=block, hop_size=block // 2,
                                   drop_partial_block=len(spec) > block)
        with self.torch.no_grad():
            out = self.model.get_embedding(self.torch.tensor(blocks, dtype=self.torch.float32))
        return out.numpy().mean(axis=0)

    def embed_clips(self, pcm: np.ndarray, sr: int) -> np.ndarray:
        """One embedding a row of ``pcm`` (equal-length clips at ``sr``), batched.

        A corpus clip (1.5 s) is shorter than one block, so each is one zero-padded block,
        exactly as :meth:`embed` treats a short file.
        """
        import librosa
        import soxr

        inf = self.inf
        block = inf.EMB_BLOCK_LENGTH
        specs = []
        for y in pcm:
            y = soxr.resample(y.astype(np.float32), sr, int(inf.SAMPLE_RATE), quality="HQ")
            y = y / (float(np.max(np.abs(y))) or 1.0)
            spec = librosa.feature.melspectrogram(
                y=y, sr=inf.SAMPLE_RATE, n_mels=inf.MEL_BINS, norm=1.0, fmin=inf.F_MIN,
                fmax=inf.F_MAX, htk=True, power=2.0, hop_length=inf.SPEC_HOP_LENGTH,
                win_length=inf.SPEC_BLOCK_LENGTH, n_fft=inf.SPEC_BLOCK_LENGTH)
            spec = np.log10(spec.astype(np.float32) * 10000.0 + 1).T
            spec = self.pre.spectrogram_normalize(spec, spec_norm="original")[:block]
            specs.append(np.vstack([spec, np.zeros((block - len(spec), spec.shape[1]),
                                                   np.float32)]))
        with self.torch.no_grad():
            out = self.model.get_embedding(self.torch.tensor(np.stack(specs),
                                                             dtype=self.torch.float32))
        return out.numpy()


class Musicnn:
    name = "musicnn"

    def __init__(self, model: str = "MSD_musicnn", layer: str = "max_pool") -> None:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        from musicnn import configuration as config
        from musicnn import models

        n = int(os.environ.get("TEACHER_THREADS", "2"))
        self.config = config
        self.n_frames = round(3.0 * config.SR / config.FFT_HOP) + 1  # 188, as the package
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            self.x = tf.compat.v1.placeholder(tf.float32, [None, self.n_frames, config.N_MELS])
            self.is_training = tf.compat.v1.placeholder(tf.bool)
            outs = models.define_model(self.x, self.is_training, model, len(config.MSD_LABELS))
        names = ["y", "timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool",
                 "penultimate"]
        self.out = dict(zip(names, outs, strict=True))[layer]
        self.sess = tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=n, inter_op_parallelism_threads=1))
        self.sess.run(tf.compat.v1.global_variables_initializer())
        import musicnn
        ckpt = os.path.join(os.path.dirname(musicnn.__file__), model) + "/"
        tf.compat.v1.train.Saver().restore(self.sess, ckpt)  # raises if it fails

    def embed(self, path: Path) -> np.ndarray:
        import librosa

        c = self.config
        y = _load_mono(path, c.SR)
        rep = librosa.feature.melspectrogram(y=y, sr=c.SR, hop_length=c.FFT_HOP,
                                             n_fft=c.FFT_SIZE, n_mels=c.N_MELS).T
        rep = np.log10(10000.0 * rep.astype(np.float32) + 1)
        n = self.n_frames
        if len(rep) < n:
            rep = np.vstack([rep, np.zeros((n - len(rep), rep.shape[1]), np.float32)])
        starts = list(range(0, len(rep) - n + 1, n))
        if starts[-1] + n < len(rep):  # the tail, zero-padded
            rep = np.vstack([rep, np.zeros((starts[-1] + 2 * n - len(rep), rep.shape[1]),
                                           np.float32)])
            starts.append(starts[-1] + n)
        batch = np.stack([rep[s:s + n] for s in starts])
        feats = self.sess.run(self.out, feed_dict={self.x: batch, self.is_training: False})
        return np.asarray(feats).reshape(len(starts), -1).mean(axis=0)

    def embed_clips(self, pcm: np.ndarray, sr: int) -> np.ndarray:
        """One embedding a row of ``pcm`` (equal-length clips at ``sr``), batched.

        A corpus clip (1.5 s) is shorter than one 3 s patch, so each is one zero-padded
        patch, exactly as :meth:`embed` treats a short file.
        """
        import librosa
        import soxr

        c = self.config
        n = self.n_frames
        reps = []
        for y in pcm:
            y = y.astype(np.float32)
            if sr != c.SR:
                y = soxr.resample(y, sr, c.SR, quality="HQ").astype(np.float32)
            rep = librosa.feature.melspectrogram(y=y, sr=c.SR, hop_length=c.FFT_HOP,
                                                 n_fft=c.FFT_SIZE, n_mels=c.N_MELS).T
            rep = np.log10(10000.0 * rep.astype(np.float32) + 1)[:n]
            reps.append(np.vstack([rep, np.zeros((n - len(rep), rep.shape[1]), np.float32)]))
        feats = self.sess.run(self.out, feed_dict={self.x: np.stack(reps),
                                                   self.is_training: False})
        return np.asarray(feats).reshape(len(reps), -1)


def embed_corpus(teacher: Aisfx | Musicnn, corpus: Path, out: Path, batch: int = 256) -> None:
    """``teacher-<name>.npy`` beside a built corpus: float16, one row a clip, resumable."""
    audio = np.load(corpus / "clips.npy", mmap_mode="r")
    n = len(audio)
    part = out.with_suffix(".part.npy")
    rows = np.load(part) if part.is_file() else np.zeros((0, 0), np.float16)
    done = len(rows)
    t0 = time.perf_counter()
    chunks = [rows] if done else []
    for start in range(done, n, batch):
        pcm = np.asarray(audio[start:start + batch], np.float32) / 32768.0
        chunks.append(teacher.embed_clips(pcm, 16000).astype(np.float16))
        if (start // batch) % 8 == 7 or start + batch >= n:
            np.save(part, np.concatenate(chunks))
            chunks = [np.load(part)]
            print(f"{min(start + batch, n)}/{n} clips, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    os.replace(part, out)
    print(f"{teacher.name}: {n} clips → {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", choices=("aisfx", "musicnn"), required=True)
    ap.add_argument("--set", type=Path, default=Path.home() / ".cache/Sampletree/realset")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="first N files only (a subset)")
    ap.add_argument("--batch", type=int, default=256, help="clips a batch with --corpus")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="embed every clip of a built corpus instead: writes "
                         "teacher-NAME.npy in that folder, which `sampletree train "
                         "--distill NAME` reads")
    args = ap.parse_args(argv)
    if args.corpus is not None:
        teacher = Aisfx() if args.teacher == "aisfx" else Musicnn()
        embed_corpus(teacher, args.corpus, args.corpus / f"teacher-{args.teacher}.npy",
                     batch=args.batch)
        return 0
    if args.out is None:
        ap.error("--out is required with --set")
    manifest = json.loads((args.set / "manifest.json").read_text(encoding="utf-8"))
    rel = [f["path"] for f in manifest["files"]]
    if args.limit:
        rel = rel[: args.limit]
    teacher = Aisfx() if args.teacher == "aisfx" else Musicnn()
    t0 = time.perf_counter()
    rows = []
    for i, p in enumerate(rel):
        rows.append(teacher.embed(args.set / p).astype(np.float32))
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(rel)} files, {time.perf_counter() - t0:.0f} s", flush=True)
    dt = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, paths=np.array(rel), emb=np.stack(rows), seconds=np.float64(dt))
    print(f"{args.teacher}: {len(rel)} files, dim {rows[0].shape[0]}, {dt:.0f} s → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

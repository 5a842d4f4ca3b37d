"""Choose a training run's checkpoint on the real-sample validation set
(``python -m models.select RUN``).

A run trained with ``--snapshot-every N`` keeps its network every N episodes under
``RUN/snapshots/``. Validation F1 on render classes does not pick the best model for real
samples (issue #11), so this scores every snapshot with :mod:`models.realeval` (the same
episodes for all, K ∈ {1, 2, 4, 8}) and ranks them by the mean over K of the median
macro-F1. ``--export`` writes the chosen one as ``RUN/model.pt`` + ``.json`` (the app's
format), with its real-set scores in the sidecar.

The real set is our own (models/realset.py); the held-out evaluation data is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.features import FeatureParams
from models.loading import EmbeddingModel, ModelInfo, save_model
from models.network import EmbeddingNet, NetworkConfig
from models.realeval import SHOTS, run
from models.realset import DEFAULT_OUT


def _run_architecture(run_dir: Path) -> tuple[FeatureParams, NetworkConfig, dict[str, Any]]:
    """The run's features and network, from the model it exported (or its config)."""
    from models.train import architecture

    sidecar = run_dir / "model.json"
    if sidecar.is_file():
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return (FeatureParams(**meta["features"]), NetworkConfig.from_dict(meta["network"]),
                meta)
    cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    features, network = architecture(cfg.get("arch", "lean"))
    return features, network, {}


def snapshots(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "snapshots").glob("ep*.pt"))


def _export(state_path: Path, features: FeatureParams, network: NetworkConfig, out: Path,
            name: str, version: str, extra: dict[str, Any]) -> Path:
    net = EmbeddingNet(network)
    net.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    model = EmbeddingModel(ModelInfo(name, version, "pending", features, network), net.eval())
    save_model(model, out, name=name, version=version, extra=extra)
    return out


def select(run_dir: Path, set_dir: Path = DEFAULT_OUT, every: int = 1,
           shots: Iterable[int] = SHOTS, min_files: int | None = None,
           log=print) -> dict[str, Any]:
    """Score the run's snapshots (every ``every``-th, and always the last) on the real set."""
    snaps = snapshots(run_dir)
    if not snaps:
        raise SystemExit(f"{run_dir} has no snapshots: train with --snapshot-every N")
    picked = snaps[::every]
    if snaps[-1] not in picked:
        picked.append(snaps[-1])
    features, network, _ = _run_architecture(run_dir)
    tmp = run_dir / "select"
    specs = []
    for s in picked:
        path = _export(s, features, network, tmp / f"{s.stem}.pt", "snapshot", s.stem, {})
        specs.append(f"{s.stem}={path}")
    shots = list(shots)
    res = run(set_dir, specs, None, shots=shots, min_files=min_files, log=log)
    table = {name: {str(k): r["scores"][str(k)]["f1_median"] for k in shots}
             for name, r in res["results"].items()}
    score = {name: float(np.mean(list(v.values()))) for name, v in table.items()}
    best = max(score, key=lambda n: (score[n], n))
    (run_dir / "select.json").write_text(json.dumps(
        {"set": res["meta"]["manifest"], "shots": shots, "median_f1": table, "mean": score,
         "best": best}, indent=1) + "\n", encoding="utf-8")
    log(f"best on the real set: {best} (mean median macro-F1 over K {score[best]:.3f})")
    return {"best": best, "table": table, "mean": score, "meta": res["meta"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.select", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a training run's --out folder")
    ap.add_argument("--set", type=Path, default=DEFAULT_OUT, help="the built real set")
    ap.add_argument("--every", type=int, default=1, help="score every N-th snapshot (1)")
    ap.add_argument("--shots", type=int, nargs="+", default=list(SHOTS))
    ap.add_argument("--min-files", type=int, default=None,
                    help="classes with at least this many files take part (max K + 2)")
    ap.add_argument("--export", action="store_true",
                    help="write the best snapshot as RUN/model.pt (+ .json)")
    ap.add_argument("--name", default="sampletree")
    ap.add_argument("--version", default="2")
    args = ap.parse_args(argv)
    got = select(args.run, args.set, args.every, args.shots, args.min_files)
    if args.export:
        features, network, meta = _run_architecture(args.run)
        extra = {k: v for k, v in meta.items()
                 if k not in ("name", "version", "sha256", "trained", "embedding_dim",
                              "features", "network")}
        extra.setdefault("training", {})["selected"] = {
            "snapshot": got["best"], "by": "mean over K of the median macro-F1 on the "
            "real-sample validation set (models.realeval)", "real_set": got["meta"]["manifest"],
            "median_f1": got["table"][got["best"]]}
        out = _export(args.run / "snapshots" / f"{got['best']}.pt", features, network,
                      args.run / "model.pt", args.name, args.version, extra)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

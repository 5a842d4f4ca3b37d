"""Pair a protocol model's benchmark results with the stored 20,000-episode ones.

    python scripts/pair_protocol.py UNSEEN/results.json REAL/results.json NAME

UNSEEN is a `sampletree evaluate` output and REAL a `python -m models.realeval --paired
--episodes 10` output for the model NAME. Both benchmarks draw the same episodes from the
same seeds as docs/eval/proto-v2/{unseen,real}-a05-20000 (flat, hierarchical α = 1 and
α = 0.5 at 20,000 episodes), so differences pair over the 43 unseen classes and over the
real set's 10 episodes. Prints markdown tables (mean ± standard error of the difference,
and on how many classes NAME is ahead).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STORED = Path(__file__).resolve().parents[1] / "docs" / "eval" / "proto-v2"
BASES = ("hier-ep20000", "flat-ep20000", "a05-ep20000")


def _load(path: Path | str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _row(label: str, cells: list[str]) -> None:
    print(f"| {label} | " + " | ".join(cells) + " |")


def _diff(d: np.ndarray, ahead: bool = False) -> str:
    text = f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}"
    return text + (f" ({int((d > 0).sum())} of {len(d)})" if ahead else "")


def main(new_unseen: str, new_real: str, name: str) -> None:
    stored_u = _load(STORED / "unseen-a05-20000" / "results.json")["models"]
    stored_r = _load(STORED / "real-a05-20000" / "results.json")["results"]
    u = _load(new_unseen)["models"][name]["shots"]
    r = _load(new_real)["results"][name]["scores"]

    print("| unseen | " + " | ".join(f"K={k}" for k in u) + " |")
    print("| --- |" + " --- |" * len(u))
    _row(name, [f"{u[k]['macro_f1']['mean']:.3f} ± {u[k]['macro_f1']['ci95']:.3f}" for k in u])
    for base in BASES:
        cells = []
        for k in u:
            a, b = u[k]["per_class_f1"], stored_u[base]["shots"][k]["per_class_f1"]
            cells.append(_diff(np.array([a[c] - b[c] for c in sorted(set(a) & set(b))]), True))
        _row(f"{name} − {base}, paired over classes", cells)
    _row(f"severity {name}", [f"{u[k]['mistake_severity']['mean']:.3f}" for k in u])
    for base in BASES:
        shots = stored_u[base]["shots"]
        _row(f"severity {base}", [f"{shots[k]['mistake_severity']['mean']:.3f}" for k in u])
    print()
    print("| real set | " + " | ".join(f"K={k}" for k in r) + " |")
    print("| --- |" + " --- |" * len(r))
    _row(f"{name} (mean)", [f"{r[k]['f1_mean']:.3f}" for k in r])
    for base in BASES:
        _row(f"{base} (mean)", [f"{stored_r[base]['scores'][k]['f1_mean']:.3f}" for k in r])
    for base in BASES:
        theirs = stored_r[base]["scores"]
        _row(f"{name} − {base}, paired over episodes",
             [_diff(np.array(r[k]["f1"]) - np.array(theirs[k]["f1"])) for k in r])
    _row(f"severity {name}", [f"{r[k]['severity_mean']:.3f}" for k in r])
    for base in BASES:
        _row(f"severity {base}",
             [f"{stored_r[base]['scores'][k]['severity_mean']:.3f}" for k in r])


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

"""Relabel benchmark: plan, apply (copy mode) and undo a batch of real files.

    python -m bench.relabel [--files 10000] [--size-kb 64] [--mode copy] [--json PATH]

Files are real (random bytes, ``--size-kb`` each, in folders of 100) and the library rows
are real (samples with their size and mtime, a tree of 12 leaves, one prediction per file),
written straight into a fresh SQLite file; the relabel engine does what it does for a user:
sha256 of every source at plan time, a journaled copy of each, verification, and undo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--size-kb", type=int, default=64)
    ap.add_argument("--mode", default="copy")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from sqlalchemy import select

    from core.library import Library
    from core.relabel import apply_batch, plan_relabel, undo_batch
    from core.schema import nodes
    from core.trees import add_node, create_tree, load_tree

    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="sampletree-relabel-"))
    src = work / "samples"
    t0 = time.perf_counter()
    payload = rng.bytes(args.size_kb * 1024)
    rows = []
    for i in range(args.files):
        folder = src / f"pack{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"sample{i:05d}.wav"
        path.write_bytes(payload[: -8] + i.to_bytes(8, "little"))
        st = path.stat()
        rows.append((i + 1, str(path), st.st_size, st.st_mtime_ns))
    make_s = time.perf_counter() - t0

    lib = Library(work / "library.sqlite")
    create_tree(lib, "bench")
    leaves = [add_node(lib, "bench", f"Group {c // 4}/Class {c}").id for c in range(12)]
    tree = load_tree(lib, "bench")
    with lib.transaction() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.executemany("INSERT INTO samples (id, path, size, mtime_ns, status, n_windows) "
                        "VALUES (?, ?, ?, ?, 'ok', 1)", rows)
        raw.executemany(
            "INSERT INTO predictions (tree_id, sample_id, leaf_id, node_id, leaf_confidence, "
            "confidence, distance, backed_off, unknown) VALUES (?, ?, ?, ?, ?, ?, 1.0, 0, 0)",
            [(tree.id, sid, leaves[sid % 12], leaves[sid % 12], 0.9, 0.9)
             for sid, *_ in rows])
        assert conn.execute(select(nodes.c.id)).first() is not None

    dest = work / "sorted"
    t0 = time.perf_counter()
    plan = plan_relabel(lib, "bench", args.mode, str(dest))
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    applied = apply_batch(lib, plan.batch_id)
    apply_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    undone = undo_batch(lib, plan.batch_id)
    undo_s = time.perf_counter() - t0
    lib.close()
    shutil.rmtree(work)

    res = {"files": args.files, "size_kb": args.size_kb, "mode": args.mode,
           "cpus": os.cpu_count(), "make_files_s": make_s, "plan_s": plan_s,
           "apply_s": apply_s, "undo_s": undo_s, "done": applied.done,
           "applied_state": applied.state, "undo_state": undone.state,
           "restored_or_removed": undone.restored + undone.removed}
    print(f"{'what':<34} measured")
    print(f"{'batch':<34} {args.files:,} files of {args.size_kb} KiB, mode {args.mode}")
    print(f"{'plan (incl. sha256 of each file)':<34} {plan_s:.2f} s")
    print(f"{'apply (journaled, verified)':<34} {apply_s:.2f} s "
          f"({args.files / apply_s:,.0f} files/s), {applied.done} done, state {applied.state}")
    print(f"{'undo':<34} {undo_s:.2f} s, state {undone.state}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0 if applied.done == args.files and undone.state == "undone" else 1


if __name__ == "__main__":
    raise SystemExit(main())

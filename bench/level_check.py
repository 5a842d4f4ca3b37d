"""The scan's loudness meter against the exact one, file by file.

    python bench/level_check.py --library-dir DIR [--files 500]

Run as a script (like bench/scan_cpu.py). On the first ``--files`` files of a
``bench.gen_library`` library (as ``bench.scan`` picks them), segment 0 of each is decoded
as the scan decodes it, feeding both meters: the exact BS.1770 one
(``core.analysis.level.LevelMeter``: every channel K-weighted at the file's rate) and the
one the scan uses (``scan_meter``: the split meter where it applies). Prints the largest
differences of integrated loudness and peak, how many files differ, and the CPU time a
file of each meter alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


class _Tee:
    """A meter that also keeps what it was fed (for the exact meter and the timing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.blocks: list[np.ndarray] = []
        self.low = np.zeros(0, np.float32)

    def feed(self, b: np.ndarray) -> None:
        self.blocks.append(b.copy())
        self.inner.feed(b)

    def low_band(self, y: np.ndarray, rate: int) -> None:
        self.low = y.copy()
        self.inner.low_band(y, rate)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library-dir", type=Path, required=True)
    ap.add_argument("--files", type=int, default=500)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scan_cpu

    from core.analysis.level import LevelMeter, scan_meter
    from core.audio import WindowParams, decode_segment, plan_segments, probe

    params = WindowParams()
    rows = []
    blocks_of: list[tuple[int, int, list[np.ndarray], np.ndarray]] = []
    for f in scan_cpu._files(args.library_dir, args.files):
        info = probe(f)
        tee = _Tee(scan_meter(info.sample_rate, info.channels))
        decode_segment(f, info, params, *plan_segments(info, params)[0], meter=tee)
        blocks = tee.blocks
        exact = LevelMeter(info.sample_rate, info.channels)
        for b in blocks:
            exact.feed(b)
        rows.append((f, info, exact.lufs, tee.inner.lufs, exact.peak_db, tee.inner.peak_db,
                     type(tee.inner).__name__))
        blocks_of.append((info.sample_rate, info.channels, blocks, tee.low))
    d_lufs = [abs(a - b) for _f, _i, a, b, *_ in rows if a is not None and b is not None]
    none_mismatch = sum((a is None) != (b is None) for _f, _i, a, b, *_ in rows)
    d_peak = [abs((a or 0) - (b or 0)) for *_x, a, b, _k in rows]
    split = sum(k == "SplitLevelMeter" for *_x, k in rows)
    print(f"{len(rows)} files ({split} through the split meter)")
    print(f"|dLUFS|: max {max(d_lufs):.3f}, 99th pct {np.percentile(d_lufs, 99):.3f}, "
          f"median {statistics.median(d_lufs):.3f}; files off by > 0.01: "
          f"{sum(d > 0.011 for d in d_lufs)}, by > 0.05: {sum(d > 0.05 for d in d_lufs)}; "
          f"a loudness on one side only: {none_mismatch}")
    print(f"|dPeak|: max {max(d_peak):.3f} dB")
    worst = sorted(rows, key=lambda r: -abs((r[2] or 0) - (r[3] or 0)))[:5]
    for f, info, a, b, *_ in worst:
        print(f"  {a} vs {b}  {info.sample_rate} Hz x{info.channels} "
              f"{info.duration_s:.2f} s  {Path(f).name}")
    for name, make in (("exact", LevelMeter), ("scan", scan_meter)):
        ts = []
        for _ in range(3):
            t0 = time.process_time()
            for rate, ch, blocks, low in blocks_of:
                m = make(rate, ch)
                for b in blocks:
                    m.feed(b)
                m.low_band(low, params.sample_rate)
                _ = m.lufs
            ts.append(time.process_time() - t0)
        print(f"{name} meter: {1000 * statistics.median(ts) / len(rows):.3f} CPU ms a file")
    return 0


if __name__ == "__main__":
    sys.exit(main())

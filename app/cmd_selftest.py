"""``sampletree --self-test``: the engine on the bundled demo library, headless.

Exit status 0 when it passed, 1 when it failed or could not run (the reason on one
``sampletree: error:`` line). The protocol and its threshold: ``core/selftest.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from app.common import EXIT_ERROR, EXIT_OK
from core.errors import SampletreeError
from core.words import plural


class SelfTestAction(argparse.Action):
    """A top-level flag like ``--version``: runs the self-test and exits with its status."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.exit(run(debug=getattr(namespace, "debug", False)))


def run(*, debug: bool = False, jobs: int | None = None) -> int:
    """Run the self-test, print what it found, return the exit status."""
    from core.allocator import tune_allocator
    from core.selftest import run_self_test

    t0 = time.perf_counter()
    tune_allocator()
    print("Sampletree self-test", flush=True)
    try:
        report = run_self_test(jobs=jobs, say=lambda msg: print(msg, flush=True))
    except (SampletreeError, OSError) as exc:
        if debug:
            raise
        print(f"sampletree: error: self-test could not run: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"  network {report.model_id}; {plural(report.classes, 'class')}, "
          f"{plural(len(report.results), 'file')} classified by a tree that did not see them")
    for r in report.results:
        mark = "ok   " if r.exact else ("ok ~ " if r.right else "WRONG")
        got = r.label or "uncertain"
        extra = "" if r.exact else f"   (expected {r.truth}; best class {r.leaf})"
        print(f"  {mark} [{r.fold}] {r.path} → {got} {r.confidence:.2f}{extra}")
    right = sum(r.right for r in report.results)
    exact = sum(r.exact for r in report.results)
    print(f"  right: {right}/{len(report.results)} ({report.accuracy:.0%}; {exact} exact, "
          f"{right - exact} backed off to the right group), needed "
          f"{report.min_accuracy:.0%}")
    print(f"  took {time.perf_counter() - t0:.1f} s (scan {report.scan_s:.1f} s)")
    if report.passed:
        print("self-test passed")
        return EXIT_OK
    for problem in report.problems:
        print(f"  ! {problem}", file=sys.stderr)
    print("sampletree: error: self-test FAILED: " + report.problems[0], file=sys.stderr)
    return EXIT_ERROR

"""The self-test: the whole engine on the bundled demo library, with the bundled network.

``sampletree --self-test`` runs it; it is how an installed or frozen copy shows that it
works (decoders, resampler, network, weights, library, trees, classification), with no
display and nothing of the user's touched.

1. Scan ``resources/demo`` into a new library in a temporary folder. Every file must
   decode and be embedded (the demo holds WAV, AIFF, FLAC, OGG and MP3 at 22.05–48 kHz).
2. Build a tree from the demo's folders (``Drums/Kick``, ``Bass``, …; 11 classes, the
   ``Loops`` folder left out) and classify in two folds: in the first, every other file
   of each folder (the 1st, 3rd, …) is an example and the rest are classified; in the
   second, the other way round. So each of the 46 files is classified once, by a tree
   that did not see it, from one to three examples per class.
3. A file is right when its label is its folder's class, or — when the network is not
   sure of the class — the correct group above it (``Drums`` for a kick: the app's own
   back-off). Another class, another group, "uncertain" and "unknown" are wrong.
4. Draw the library map with both of its projections (PCA and t-SNE, scikit-learn): every
   embedded file must get a finite place on it. This is what catches a build that left
   scikit-learn or SciPy out.

It passes when every file decoded and at least :data:`MIN_ACCURACY` of the files are
right. A broken audio path or network lands near chance (about 1 in 11) or labels
everything unknown; the shipped network scores 0.78 (36/46) here, its flat baseline 0.76.
A protocol that picks its examples to reach 80 % would test the choice, not the build.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import SampletreeError
from core.words import plural

if TYPE_CHECKING:
    from core.classify import Classifier
    from models import EmbeddingModel

#: Share of the demo files that must be labeled right for the self-test to pass.
MIN_ACCURACY = 0.6

#: Demo folders that are not a class (an 8 s multi-instrument loop).
UNGRADED = ("Loops",)

#: Folders whose sub-folders are the classes (one level deeper).
NESTED = ("Drums",)

FOLDS = 2


class SelfTestError(SampletreeError):
    """The self-test could not run at all (no weights, no demo library)."""


@dataclass(frozen=True)
class FileResult:
    path: str  # relative to the demo folder, with "/"
    truth: str  # tree path of its class
    label: str  # reported node ("" = uncertain), or "unknown"
    leaf: str  # most likely class
    confidence: float
    fold: int
    right: bool
    exact: bool  # the class itself, not a group above it


@dataclass
class SelfTestReport:
    model_id: str
    files: int = 0  # demo audio files found by the scan
    decoded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # unreadable: path, why
    not_embedded: int = 0
    classes: int = 0
    results: list[FileResult] = field(default_factory=list)
    min_accuracy: float = MIN_ACCURACY
    scan_s: float = 0.0
    seconds: float = 0.0
    #: per projection method: (files placed, seconds, share of graded files whose nearest
    #: file on the map is of the same class), or the error that stopped it
    maps: dict[str, tuple[int, float, float] | str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return sum(r.right for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def exact_accuracy(self) -> float:
        return sum(r.exact for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def problems(self) -> list[str]:
        """Why the self-test failed; empty when it passed."""
        out = [f"{p}: could not be read ({why})" for p, why in self.failed]
        if self.not_embedded:
            out.append(f"{plural(self.not_embedded, 'demo file')} decoded but not embedded")
        if not self.results:
            out.append("no demo file was classified")
        elif self.accuracy < self.min_accuracy:
            out.append(f"only {sum(r.right for r in self.results)} of {len(self.results)} "
                       f"files labeled right ({self.accuracy:.0%}; the self-test needs "
                       f"{self.min_accuracy:.0%})")
        embedded = self.decoded - self.not_embedded
        for method, got in self.maps.items():
            if isinstance(got, str):
                out.append(f"the map ({method}) could not be drawn: {got}")
            elif got[0] != embedded:
                out.append(f"the map ({method}) placed {got[0]} of {plural(embedded, 'file')}")
        return out

    @property
    def passed(self) -> bool:
        return not self.problems


def demo_dir() -> Path:
    """The bundled demo library (inside the package, or PyInstaller's bundle)."""
    return Path(str(resources.files("resources") / "demo"))


def demo_classes(root: Path) -> dict[str, list[Path]]:
    """Tree path of each demo class → its audio files, sorted by name."""
    from core.audio import AUDIO_EXTENSIONS
    from core.walk import is_skipped

    classes: dict[str, list[Path]] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).parts
        if (len(rel) < 2 or rel[0] in UNGRADED or any(is_skipped(part) for part in rel)
                or path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file()):
            continue
        depth = 2 if rel[0] in NESTED and len(rel) > 2 else 1
        classes.setdefault("/".join(rel[:depth]), []).append(path)
    return {k: sorted(v, key=lambda p: p.name) for k, v in sorted(classes.items())}


def run_self_test(model: EmbeddingModel | None = None, *, demo: Path | None = None,
                  workdir: Path | None = None, jobs: int | None = None,
                  min_accuracy: float = MIN_ACCURACY,
                  say: Callable[[str], None] = lambda _msg: None) -> SelfTestReport:
    """Run the self-test (see the module's doc) and return its report.

    ``model``: the network (default: the bundled weights, on the CPU); ``jobs``: decoder
    processes (default: the scanner's). :class:`SelfTestError` when it cannot run at all.
    """
    from models import ModelError, load_model

    t0 = time.perf_counter()
    if model is None:
        try:
            model = load_model(None, "cpu")
        except ModelError as exc:
            raise SelfTestError(f"no usable bundled network ({exc}); the self-test needs "
                                "the trained weights in models/weights/") from None
    if not model.info.trained:
        raise SelfTestError(f"{model.info.name} holds untrained weights; the self-test "
                            "needs a trained network")
    demo = demo or demo_dir()
    classes = demo_classes(demo) if demo.is_dir() else {}
    if not classes:
        raise SelfTestError(f"no demo library at {demo}")
    report = SelfTestReport(model_id=model.info.name, min_accuracy=min_accuracy)
    if workdir is not None:
        _run(model, demo, classes, Path(workdir), jobs, report, say)
    else:
        with tempfile.TemporaryDirectory(prefix="sampletree-selftest-") as tmp:
            _run(model, demo, classes, Path(tmp), jobs, report, say)
    report.seconds = time.perf_counter() - t0
    return report


def _run(model: EmbeddingModel, demo: Path, classes: dict[str, list[Path]], workdir: Path,
         jobs: int | None, report: SelfTestReport, say: Callable[[str], None]) -> None:
    from core.audio import WindowParams
    from core.classify import Classifier, file_labels
    from core.library import Library
    from core.scanner import ScanOptions, scan
    from core.supports import add_supports
    from core.trees import add_node, create_tree

    feats = model.info.features
    window = WindowParams(sample_rate=feats.sample_rate, window_s=feats.window_s)
    options = ScanOptions(window=window) if jobs is None else \
        ScanOptions(jobs=jobs, window=window)
    lib = Library(workdir / "selftest.sqlite")
    try:
        say(f"scanning the demo library ({demo}) with {options.jobs} decoder process(es)")
        scanned = scan(lib, [str(demo)], model, options=options)
        report.scan_s = scanned.seconds
        report.model_id = scanned.model_id or report.model_id
        report.files, report.decoded = scanned.found, scanned.decoded
        report.failed = [(_rel(p, demo), why) for p, why in scanned.problems]
        rows = list(lib.list_samples())
        report.not_embedded = sum(1 for r in rows if r["status"] == "ok" and not r["embedded_by"])
        say(f"  {plural(scanned.found, 'file')}, {scanned.decoded} decoded, "
            f"{plural(scanned.windows, 'window')}, "
            f"{scanned.embedded_windows} embedded in {scanned.seconds:.1f} s")
        report.classes = len(classes)
        truth = {str(p.resolve()): c for c, files in classes.items() for p in files}
        classifier = Classifier(lib)
        for fold in range(FOLDS):
            name = f"self-test fold {fold + 1}"
            create_tree(lib, name)
            held: set[str] = set()
            for cls, files in classes.items():
                add_node(lib, name, cls)
                if len(files) < FOLDS:
                    continue  # one file: nothing to hold out
                examples = files[fold::FOLDS]
                add_supports(lib, name, cls, [str(p) for p in examples])
                held.update(str(p.resolve()) for p in files if p not in examples)
            classifier.refresh(name)
            for rec in file_labels(lib, name):
                path = os.path.realpath(os.fsdecode(rec["path"]))
                if path not in held:
                    continue
                want, label = truth[path], "unknown" if rec["unknown"] else rec["node"]
                right = label != "unknown" and label != "" and \
                    (want == label or want.startswith(label + "/"))
                report.results.append(FileResult(
                    _rel(path, demo), want, label, rec["leaf"], float(rec["confidence"]),
                    fold + 1, right, label == want))
        report.results.sort(key=lambda r: r.path)
        _check_map(classifier, demo, truth, report, say)
    finally:
        lib.close()


def _check_map(classifier: Classifier, demo: Path, truth: dict[str, str],
               report: SelfTestReport, say: Callable[[str], None]) -> None:
    """Project the library both ways; record files placed, time and neighbour purity."""
    import numpy as np

    from core.projection import METHODS, library_map

    index = classifier.index()
    paths = classifier.lib.paths_of([int(i) for i in index.sample_ids])
    classes = [truth.get(os.path.realpath(os.fsdecode(paths.get(int(i), ""))), "")
               for i in index.sample_ids]
    for method in METHODS:
        try:
            proj = library_map(classifier, method)
        except Exception as exc:  # an ImportError in a build that left a library out
            report.maps[method] = f"{type(exc).__name__}: {exc}"
            say(f"  map ({method}): FAILED: {report.maps[method]}")
            continue
        xy = proj.xy
        ok = np.isfinite(xy).all(axis=1) & (xy >= 0).all(axis=1) & (xy <= 1).all(axis=1)
        d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        graded = [i for i, c in enumerate(classes) if c]
        same = sum(classes[int(np.argmin(d[i]))] == classes[i] for i in graded)
        purity = same / len(graded) if graded else 0.0
        report.maps[method] = (int(ok.sum()), proj.seconds, purity)
        say(f"  map ({method}): {plural(int(ok.sum()), 'file')} placed in {proj.seconds:.2f} s; "
            f"nearest file of the same class for {purity:.0%}")


def _rel(path: str | os.PathLike[str] | bytes, root: Path) -> str:
    p = Path(os.fsdecode(path))
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(p)

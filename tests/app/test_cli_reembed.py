"""The scan's summary says when files were embedded again because the network changed."""

from __future__ import annotations

from app.cli import _print_report
from core.scanner import ScanReport


def test_the_summary_says_the_network_changed(capsys) -> None:
    report = ScanReport(roots=["/samples"], found=5, changed=5, decoded=5, windows=9,
                        embedded_windows=9, model_id="sampletree-2-abc", reembedded=5,
                        errors_in_library=0)
    _print_report(report)
    out = capsys.readouterr().out
    assert ("the network changed (now sampletree-2-abc): embedded 5 unchanged files again"
            in out)
    _print_report(ScanReport(roots=["/samples"], found=1, changed=1, decoded=1))
    assert "network changed" not in capsys.readouterr().out


def test_the_app_says_it_too() -> None:
    from app.gui.panels import _summary

    text = _summary(ScanReport(roots=["/s"], found=5, changed=5, reembedded=5))
    assert "5 embedded again by the new network" in text


def test_the_summary_names_examples_whose_audio_changed(capsys) -> None:
    from app.gui.panels import _summary

    report = ScanReport(roots=["/s"], found=2, changed=1, decoded=1, errors_in_library=0,
                        examples_changed=[{"path": "/s/piano.wav", "tree": "mine",
                                           "node": "Keys/Piano"}])
    _print_report(report)
    out = capsys.readouterr().out
    assert "! 1 example changed on disk since taught" in out
    assert "/s/piano.wav  (mine: Keys/Piano)" in out
    assert "1 example changed on disk since taught" in _summary(report)

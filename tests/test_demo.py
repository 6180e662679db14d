"""`sensekit demo` (the README's first command) runs every domain on real media."""

from __future__ import annotations

from sensekit.cli import main


def test_demo_prints_real_results_of_every_domain(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    for verb in (
        "vision.classify",
        "vision.detect",
        "vision.pose",
        "language.answer",
        "speech.transcribe",
        "sound.identify",
    ):
        assert verb in out
    lower = out.lower()
    assert "tabby" in lower or "cat" in lower  # chelsea.png
    assert "dog" in lower and "bicycle" in lower  # dog.jpg detections
    assert "mira lund" in lower  # Who designed the bridge?
    assert "ask not what your country can do for you" in lower  # jfk.wav
    assert "telephone" in lower or "ring" in lower  # phone-incoming-call.oga

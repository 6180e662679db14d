"""Size, CPU latency and accuracy of every compression method on the zoo's built models.

Run: ``python bench/compress.py [--repeats 30] [--models efficientnet-lite0 ...]``.

For image models the accuracy is top-1 agreement with the fp32 model on real photos
(sensekit.samples), with int8-static calibrated on *other* inputs (augmented crops of the
photos, never the evaluation images themselves). Other models are measured on fixed-seed
random inputs of their own shapes (marked "random"), which shows size and latency but is a
weak accuracy signal. Models not built yet are skipped; nothing is built here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core import registry
from sensekit.core.compress import compress
from sensekit.core.errors import SensekitError
from sensekit.core.model import Model

METHODS = [("fp16", {}), ("int8-dynamic", {}), ("int8-static", {}),
           ("palettize", {"nbits": 4}), ("palettize", {"nbits": 6}), ("prune", {"sparsity": 0.5})]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
          "dog.jpg", "person.jpg", "horses.jpg", "giraffe.jpg"]


def _image_inputs(model: Model) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """(evaluation feeds: one photo each, calibration feeds: random crops of the photos)."""
    from sensekit.samples import media_path
    from sensekit.vision.image_input import load_image, preprocess

    spec = model.manifest.preprocess
    name = spec.get("input", "image")
    rng = np.random.default_rng(0)
    evaluation, calibration = [], []
    for photo in PHOTOS:
        image = load_image(media_path(photo))
        evaluation.append({name: preprocess(image, spec)[0]})
        h, w = image.shape[:2]
        for _ in range(3):
            s = rng.uniform(0.4, 0.7)
            y, x = rng.integers(0, int(h * (1 - s)) + 1), rng.integers(0, int(w * (1 - s)) + 1)
            crop = np.ascontiguousarray(image[y:y + int(h * s), x:x + int(w * s)])
            calibration.append({name: preprocess(crop, spec)[0]})
    return evaluation, calibration


def _inputs(model: Model) -> tuple[Any, Any, str]:
    if model.manifest.preprocess.get("kind") == "image":
        evaluation, calibration = _image_inputs(model)
        return evaluation, calibration, f"{len(evaluation)} photos"
    return None, None, "random"


def _row(name: str, label: str, report: Any, data: str) -> str:
    return (f"{name:<20} {label:<13} {report.size_after / 1e6:>8.2f}"
            f" {report.zipped_after / 1e6:>8.2f}"
            f" {report.latency_after_ms:>9.2f} {report.speedup:>6.2f}x"
            f" {report.score_after:>7.1%} {report.max_abs_diff:>9.3g}  {data}")


def bench_model(name: str, repeats: int, workdir: Path) -> list[str]:
    model = Model.load(name)
    evaluation, calibration, data = _inputs(model)
    rows = []
    for method, params in METHODS:
        label = method + (f"-{params['nbits']}bit" if "nbits" in params else
                          f"-{round(params['sparsity'] * 100)}%" if "sparsity" in params else "")
        if method == "int8-static" and calibration is None:
            rows.append(f"{name:<20} {label:<13} skipped: needs real calibration inputs")
            print(rows[-1], flush=True)
            continue
        try:
            report = compress(model, method, workdir / f"{name}-{label}.skmodel",
                              sample_inputs=evaluation, calibration=calibration,
                              repeats=repeats, **params)
        except SensekitError as e:
            rows.append(f"{name:<20} {label:<13} FAILED: {str(e).splitlines()[0][:90]}")
            print(rows[-1], flush=True)
            continue
        if not any(" fp32 " in r for r in rows):
            rows.insert(0, f"{name:<20} {'fp32':<13} {report.size_before / 1e6:>8.2f} "
                        f"{report.zipped_before / 1e6:>8.2f} {report.latency_before_ms:>9.2f} "
                        f"{1.0:>6.2f}x {1.0:>7.1%} {0.0:>9.3g}  {data}")
            print(rows[0], flush=True)
        rows.append(_row(name, label, report, data))
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--models", nargs="*", help="zoo names (default: every built one)")
    args = parser.parse_args(argv)
    names = args.models or sorted(registry.recipes())
    header = (f"{'model':<20} {'method':<13} {'size MB':>8} {'zip MB':>8} {'lat ms':>9} "
              f"{'speed':>7} {'top-1':>7} {'max|d|':>9}  data")
    print(header, flush=True)
    table = [header]
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            if not registry.is_built(name):
                print(f"{name:<20} skipped (not built: sensekit models build {name})")
                continue
            table += bench_model(name, args.repeats, Path(work))
    print("\n" + "\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

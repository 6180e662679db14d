"""``sensekit models convert | compress | update``: thin handlers over core's model tools.

``add_cli`` receives the ``models`` sub-command group. Arrays come from ``.npz`` files
(core never imports a domain, so image or audio folders are the domains' business):
``compress --samples x.npz`` holds one array per model input (the first axis is split
into single-example batches); ``update --examples f.npz`` holds ``features`` [N, D] and
``labels`` [N] strings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import InvalidInput


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise InvalidInput(f"Cannot read {path} as a .npz file of arrays: {e}") from e


def _convert(args: argparse.Namespace) -> int:
    from sensekit.tools.convert import convert

    metadata = {"license": args.license} if args.license else None
    path = convert(
        args.source,
        kind=args.kind,
        destination=args.output,
        name=args.name,
        task=args.task,
        metadata=metadata,
        tolerance=args.tolerance,
    )
    manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    _print({"path": str(path), "task": manifest["task"], "conversion": manifest["conversion"]})
    return 0


def _split_samples(arrays: dict[str, np.ndarray], limit: int) -> list[dict[str, np.ndarray]]:
    count = min(len(v) for v in arrays.values())
    return [{k: v[i : i + 1] for k, v in arrays.items()} for i in range(min(count, limit))]


def _compress(args: argparse.Namespace) -> int:
    from sensekit.tools.compress import compress, top1_agreement

    params: dict[str, Any] = {}
    if args.nbits is not None:
        params["nbits"] = args.nbits
    if args.sparsity is not None:
        params["sparsity"] = args.sparsity
    samples = _split_samples(_load_npz(args.samples), args.max_samples) if args.samples else None
    report = compress(
        args.model,
        args.method,
        args.output,
        sample_inputs=samples,
        verify=top1_agreement if args.max_drop is not None else None,
        max_drop=args.max_drop,
        **params,
    )
    _print(report.to_dict())
    return 0


def _update(args: argparse.Namespace) -> int:
    from sensekit.core import registry
    from sensekit.core.package import SUFFIX
    from sensekit.tools.update import fit_head

    data = _load_npz(args.examples)
    if "features" not in data or "labels" not in data:
        raise InvalidInput(f"{args.examples} must hold arrays 'features' and 'labels'")
    destination = args.output or registry.models_dir() / f"{args.name}{SUFFIX}"
    result = fit_head(
        data["features"],
        [str(v) for v in data["labels"]],
        args.base,
        args.feature_output,
        destination,
        args.name,
        holdout=args.holdout,
        epochs=args.epochs,
        method=args.method,
    )
    _print(result.to_dict())
    return 0


def add_cli(subparsers: Any) -> None:
    """Adds ``convert``, ``compress`` and ``update`` to the ``models`` sub-commands."""
    convert = subparsers.add_parser(
        "convert",
        help="convert a model (ONNX, TFLite, TF.js, "
        "SavedModel, transformers, CTranslate2) into a package",
    )
    convert.add_argument("source", help="file or directory of the model")
    convert.add_argument("--kind", help="source kind (detected when omitted)")
    convert.add_argument("--output", help="package directory (default: the model cache)")
    convert.add_argument("--name", help="model name (default: from the source)")
    convert.add_argument("--task", help="task written into the manifest")
    convert.add_argument("--license", help="license of the weights")
    convert.add_argument(
        "--tolerance",
        type=float,
        default=1e-3,
        help="largest accepted difference from the source (default 1e-3)",
    )
    convert.set_defaults(func=_convert)

    compress = subparsers.add_parser("compress", help="fp16 / int8 / palettize / prune a model")
    compress.add_argument("model", help="zoo name or package path")
    compress.add_argument(
        "method", choices=["fp16", "int8-dynamic", "int8-static", "palettize", "prune"]
    )
    compress.add_argument("--output", help="new package directory")
    compress.add_argument("--nbits", type=int, help="palettize: bits per weight (2..8)")
    compress.add_argument("--sparsity", type=float, help="prune: fraction of weights zeroed")
    compress.add_argument("--samples", help=".npz of model inputs (calibration, accuracy)")
    compress.add_argument("--max-samples", type=int, default=64)
    compress.add_argument(
        "--max-drop",
        type=float,
        help="keep the original if top-1 agreement drops more than this "
        "or the compressed model is slower",
    )
    compress.set_defaults(func=_compress)

    update = subparsers.add_parser(
        "update", help="train a new classification head on a model's features into a new package"
    )
    update.add_argument("base", help="zoo name or package path of the base model")
    update.add_argument(
        "--examples", required=True, help=".npz with 'features' [N, D] and 'labels' [N]"
    )
    update.add_argument("--name", required=True, help="name of the new model")
    update.add_argument("--output", help="package directory (default: the model cache)")
    update.add_argument("--feature-output", default="features")
    update.add_argument("--method", choices=["logistic", "knn"], default="logistic")
    update.add_argument("--holdout", type=float, default=0.2)
    update.add_argument("--epochs", type=int, default=300)
    update.set_defaults(func=_update)

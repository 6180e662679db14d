"""The ``dice`` detector: top faces of six-sided dice labelled 1-6 (Core ML's dice sample).

sensekit trains it itself on rendered photos only (sensekit/vision/synthetic/dice.py;
``python scripts/train_dice.py`` reproduces it end to end). The trained weights ship in
``zoo/data/dice.safetensors`` (fp16, with their record in ``dice.json``); the build lays
them on the CenterNet architecture, exports ONNX verified against PyTorch and writes the
package with the preprocessing and the decoder ``vision.detect`` reads.
"""

from __future__ import annotations

from typing import Any

from sensekit.core.registry import BuildContext, Recipe, register

NAME = "dice"
TRAINED = "dice.safetensors"  # in sensekit/zoo/data
TRAINED_INFO = "dice.json"  # sha256 of TRAINED, training settings, dev-set figures


def trained_info() -> dict[str, Any]:
    """The training record, after checking the shipped weights against it."""
    from sensekit.zoo import trained_record

    return trained_record(TRAINED, TRAINED_INFO)


def load_weights(model: Any, path: Any) -> Any:
    """Loads fp16 weights written by :func:`save_weights` into a CenterNet."""
    import torch
    from safetensors.torch import load_file

    state = {
        k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()
    }
    model.load_state_dict(state)
    with torch.no_grad():
        return model.eval()


def save_weights(model: Any, path: Any) -> None:
    """The whole detector (weights and batch-norm statistics) as fp16 safetensors."""
    from safetensors.torch import save_file

    state = {
        k: (v.detach().half() if v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(path), metadata={"format": "pt", "architecture": "centernet-lite0"})


def _build(ctx: BuildContext) -> None:
    from sensekit.vision import centernet
    from sensekit.vision.detector_training import DetectorTraining, export
    from sensekit.vision.synthetic.dice import LABELS
    from sensekit.zoo import data_file

    info = trained_info()
    settings = DetectorTraining(**info["settings"])
    ctx.progress("loading the trained weights")
    model = load_weights(centernet.build(len(LABELS)), data_file(TRAINED))
    ctx.progress("exporting ONNX")
    extra = {
        "version": str(ctx.recipe.revision),
        "license": ctx.recipe.license,
        "description": ctx.recipe.summary,
        "source": {
            "weights": {
                "file": f"sensekit/zoo/data/{TRAINED}",
                "sha256": info["sha256"],
                "trained_by": "scripts/train_dice.py",
                "data": "rendered dice (sensekit.vision.synthetic.dice)",
            }
        },
        "training": {k: info[k] for k in ("history", "train_images", "dev") if k in info},
    }
    export(model, LABELS, settings, ctx.destination, NAME, extra)


RECIPE = register(
    Recipe(
        name=NAME,
        task="object-detection",
        summary="Dice: top face of each six-sided die, labelled 1-6 (trained on rendered dice)",
        license="Apache-2.0",
        sources={},
        build=_build,
        requires=("torch", "efficientnet_lite_pytorch", "safetensors"),
    )
)

"""Typed manifest blocks: parsed when a package opens, with one copy of each default."""

from __future__ import annotations

import json

import pytest

from sensekit.core.blocks import ImagePreprocess, TextPreprocess, parse_preprocess
from sensekit.core.errors import ModelIntegrityError
from sensekit.core.model import Model


def test_defaults_live_in_the_block():
    block = ImagePreprocess.parse({"kind": "image", "size": [32, 24]})
    assert block.size == (32, 24) and block.input == "image" and block.layout == "NCHW"
    assert block.mean == (0.0, 0.0, 0.0) and block.std == (1.0, 1.0, 1.0)
    text = TextPreprocess.parse({"kind": "text", "tokenizer": "tokenizer.json"})
    assert text.max_seq_len == 512 and text.inputs == ("input_ids", "attention_mask")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": [0, 24]}, r"size must be \[width, height\]"),
        ({"size": "224"}, r"size must be \[width, height\]"),
        ({"resize": "squash"}, "resize must be one of"),
        ({"layout": "CHW"}, "layout must be one of"),
        ({"mean": [0, 0]}, "mean must be three numbers"),
        ({"std": [1, 0, 1]}, "std must not hold a zero"),
        ({"scale": "1/255"}, "scale must be a number"),
        ({"colour": "RGB"}, r"unknown key\(s\) \['colour'\]"),
    ],
)
def test_a_malformed_image_block_is_an_integrity_error(change, message):
    with pytest.raises(ModelIntegrityError, match=message):
        ImagePreprocess.parse({"kind": "image", "size": [32, 24], **change})


def test_two_graph_image_packages_hold_both_blocks():
    one = {"size": [8, 8]}
    assert set(parse_preprocess({"kind": "image", "detector": one, "landmarks": one})) == {
        "detector",
        "landmarks",
    }
    with pytest.raises(ModelIntegrityError, match="'detector' and 'landmarks' only"):
        parse_preprocess({"kind": "image", "detector": one})
    assert parse_preprocess({"kind": "tabular"}) == {}  # a kind sensekit has no block for


def test_a_package_with_a_bad_block_fails_when_it_opens(tmp_path):
    import shutil

    source = Model.load("efficientnet-lite0", compute_units="cpu").package.root
    broken = tmp_path / "broken.skmodel"
    shutil.copytree(source, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["preprocess"]["interpolation"] = "lanczos9"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match=r"preprocess\.interpolation must be one of"):
        Model.load(broken, compute_units="cpu")


def test_shipped_packages_parse():
    assert Model.load("efficientnet-lite0").manifest.inputs[""].resize == "center_crop"
    assert set(Model.load("blazepose").manifest.inputs) == {"detector", "landmarks"}
    assert isinstance(Model.load("minilm-qa").manifest.inputs[""], TextPreprocess)


def test_audio_front_ends_by_features():
    from sensekit.core.blocks import AudioChunks, LogMelPatches, WhisperLogMel

    yamnet = Model.load("yamnet").manifest.inputs[""]
    assert isinstance(yamnet, LogMelPatches) and (yamnet.window, yamnet.hop) == (0.025, 0.01)
    assert isinstance(Model.load("whisper-tiny.en").manifest.inputs[""], WhisperLogMel)
    assert isinstance(Model.load("silero-vad").manifest.inputs[""], AudioChunks)
    whisper = {
        "kind": "audio",
        "features": "log_mel_whisper",
        "sample_rate": 16000,
        "n_fft": 400,
        "hop": 160,
        "window_seconds": 30,
        "frames": 3000,
    }
    with pytest.raises(ModelIntegrityError, match="frames x hop must equal"):
        parse_preprocess({**whisper, "frames": 2999})
    with pytest.raises(ModelIntegrityError, match="'mfcc' is not one this sensekit reads"):
        parse_preprocess({"kind": "audio", "features": "mfcc"})
    with pytest.raises(ModelIntegrityError, match=r"state_shape must be a list"):
        parse_preprocess(
            {
                "kind": "audio",
                "sample_rate": 16000,
                "chunk": 512,
                "state_shape": "2x128",
                "input": "x",
                "state": "s",
            }
        )


def test_a_whisper_package_with_another_front_end_is_refused(tmp_path):
    import shutil

    from sensekit.core.errors import InvalidInput
    from sensekit.speech import Transcriber

    source = Model.load("whisper-tiny.en", compute_units="cpu").package.root
    other = tmp_path / "other.skmodel"
    shutil.copytree(source, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["preprocess"].update(sample_rate=8000, frames=1500)  # 30 s at 8 kHz, hop 160
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInput, match="is not Whisper's"):
        Transcriber(Model.load(other, compute_units="cpu", verify=False))

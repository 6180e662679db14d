"""Classic audio and text bugs, planted one at a time: each must fail a reference comparison.

A bug is planted in a copy of a package's manifest (:func:`mutate.mutated_package`) or,
where it does not live in a manifest, with monkeypatch on the sensekit function
responsible. The sensekit side then runs again and the *same* comparison as in
test_audio_text_reference.py must report discrepancies; the measured difference is
printed (``pytest -s``). A bug the comparisons cannot see fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mutate import Manifest, mutated_package
from qa_reference import fp32_qa_package, hf_answers, qa_differences, sensekit_answers
from sound_reference import (
    RESAMPLED_SOUND_CLIPS,
    SOUND_CLIPS,
    resampled_16k,
    yamnet_differences,
    yamnet_reference,
)
from speech_reference import (
    SPEECH_CLIPS,
    fp32_whisper_package,
    openai_transcript,
    speech_clip,
    whisper_differences,
)

import sensekit.language.qa as qa_module
import sensekit.speech.whisper.windows as whisper_windows
from sensekit.accelerate import dsp
from sensekit.language import QuestionAnswerer
from sensekit.sound import SoundClassifier, StreamResampler
from sensekit.speech import Transcriber

WHISPER = "whisper-tiny.en"
SWAPPED_RATES = {48_000: 44_100, 44_100: 48_000}  # the two common rates, confused


@pytest.fixture(scope="module", autouse=True)
def references(media) -> None:
    """Every reference output and converted package, made before any bug is planted."""
    fp32_whisper_package(WHISPER)
    for clip in SPEECH_CLIPS:
        openai_transcript(WHISPER, speech_clip(clip))
    for name in SOUND_CLIPS:
        yamnet_reference(resampled_16k(media(name)))
        yamnet_reference(media(name))
    fp32_qa_package()
    hf_answers()


def caught(bug: str, problems: list[str]) -> None:
    """Prints what the comparisons measured and fails if they saw nothing."""
    print(f"\n{bug}: {len(problems)} discrepancies; " + " | ".join(problems[:3]))
    assert problems, f"no reference comparison noticed: {bug}"


def wrong_rate_resampler(monkeypatch) -> None:
    """The resampler is told 44.1 kHz for 48 kHz audio and the reverse (whole arrays and
    streams: speech reads files through the stream resampler)."""
    resample, stream_init = dsp.resample, StreamResampler.__init__
    monkeypatch.setattr(
        dsp,
        "resample",
        lambda audio, source, target: resample(
            audio, SWAPPED_RATES.get(int(source), source), target
        ),
    )
    monkeypatch.setattr(
        StreamResampler,
        "__init__",
        lambda self, source, target: stream_init(
            self, SWAPPED_RATES.get(int(source), source), target
        ),
    )


# -- Whisper -------------------------------------------------------------------------------
def whisper_problems(transcriber: Transcriber) -> list[str]:
    problems = []
    for clip in SPEECH_CLIPS:
        found, mel = whisper_differences(transcriber, WHISPER, clip)
        problems += [f"{clip}: {p}" for p in found]
        print(f"{clip}: log-mel mean |diff| {mel.mean:.3g}, max {mel.max:.3g}")
    return problems


def fp32_transcriber() -> Transcriber:
    return Transcriber.from_model(fp32_whisper_package(WHISPER), compute_units="cpu")


def test_whisper_sees_audio_at_the_wrong_sample_rate(monkeypatch) -> None:
    wrong_rate_resampler(monkeypatch)
    caught("whisper: 48 kHz audio resampled as 44.1 kHz", whisper_problems(fp32_transcriber()))


def test_whisper_sees_padding_before_the_log_mel(monkeypatch) -> None:
    """The window zero-padded to 30 s before its log-mel (as feature extractors for
    fixed-size inputs do): the frames after the speech get silence's log-mel, not zeros,
    and the floor at (max - 8) sees the padding."""
    monkeypatch.setattr(
        whisper_windows,
        "window_mel",
        lambda audio, n_mels=80: dsp.log_mel_whisper(audio, n_mels, frames=whisper_windows.FRAMES),
    )
    caught("whisper: log-mel of the window padded to 30 s", whisper_problems(fp32_transcriber()))


def test_whisper_sees_timestamp_tokens_off_by_one(tmp_path) -> None:
    def shift(manifest: Manifest) -> None:
        manifest["postprocess"]["tokens"]["timestamp_begin"] -= 1

    package = mutated_package(fp32_whisper_package(WHISPER), shift, tmp_path)
    caught(
        "whisper: timestamp_begin off by one",
        whisper_problems(Transcriber.from_model(package, compute_units="cpu")),
    )


# -- YAMNet --------------------------------------------------------------------------------
def preprocess(key: str, value: Any) -> Callable[[Manifest], None]:
    def edit(manifest: Manifest) -> None:
        manifest["preprocess"][key] = value

    return edit


def input_zero_point(manifest: Manifest) -> None:
    manifest["preprocess"]["quantization"]["zero_point"] = 128  # the usual uint8 midpoint


def softmax(manifest: Manifest) -> None:
    manifest["postprocess"]["activation"] = "softmax"  # AudioSet is multi-label: sigmoid


YAMNET_BUGS = {
    "fmin 125 -> 0 Hz (librosa's default)": preprocess("fmin", 0.0),
    "fmax 7500 -> 8000 Hz (Nyquist)": preprocess("fmax", 8000.0),
    "log offset 0.001 -> 1e-6": preprocess("log_offset", 1e-6),
    "STFT window 25 -> 32 ms": preprocess("window", 0.032),
    "sample rate 16 -> 22.05 kHz": preprocess("sample_rate", 22050),
    "input zero point 144 -> 128": input_zero_point,
    "softmax instead of sigmoid": softmax,
}


def yamnet_problems(classifier: SoundClassifier, names: list[str], same_samples: bool) -> list[str]:
    return [
        f"{name}: {p}" for name in names for p in yamnet_differences(classifier, name, same_samples)
    ]


@pytest.mark.parametrize("bug", YAMNET_BUGS)
def test_yamnet_sees_manifest_bug(tmp_path, bug) -> None:
    package = mutated_package("yamnet", YAMNET_BUGS[bug], tmp_path)
    classifier = SoundClassifier.from_model(package, compute_units="cpu")
    caught(f"yamnet: {bug}", yamnet_problems(classifier, SOUND_CLIPS, same_samples=True))


def test_yamnet_sees_audio_at_the_wrong_sample_rate(monkeypatch) -> None:
    wrong_rate_resampler(monkeypatch)
    classifier = SoundClassifier.from_model("yamnet", compute_units="cpu")
    caught(
        "yamnet: 48 kHz audio resampled as 44.1 kHz and the reverse",
        yamnet_problems(classifier, RESAMPLED_SOUND_CLIPS, same_samples=False),
    )


# -- question answering --------------------------------------------------------------------
def test_qa_sees_tokenizer_lower_casing_dropped(monkeypatch) -> None:
    from tokenizers import normalizers

    tokenizer_of = qa_module.tokenizer_of

    def cased(model: Any) -> Any:
        tokenizer = tokenizer_of(model)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
        return tokenizer

    monkeypatch.setattr(qa_module, "tokenizer_of", cased)
    answerer = QuestionAnswerer.from_model(fp32_qa_package(), compute_units="cpu")
    caught("qa: tokenizer no longer lower-cases", qa_differences(sensekit_answers(answerer.answer)))


def test_qa_sees_token_types_dropped(monkeypatch) -> None:
    """Every token typed as the question's (segment ids left at zero)."""
    build_windows = qa_module.build_windows

    def untyped(*args: Any) -> Any:
        windows = build_windows(*args)
        windows.token_type_ids[:] = 0
        return windows

    monkeypatch.setattr(qa_module, "build_windows", untyped)
    answerer = QuestionAnswerer.from_model(fp32_qa_package(), compute_units="cpu")
    caught("qa: token type ids all 0", qa_differences(sensekit_answers(answerer.answer)))


def test_qa_sees_no_answer_read_from_the_wrong_token(tmp_path) -> None:
    def shift(manifest: Manifest) -> None:
        manifest["postprocess"]["cls_index"] = 1  # the first question token, not [CLS]

    package = mutated_package(fp32_qa_package(), shift, tmp_path)
    answerer = QuestionAnswerer.from_model(package, compute_units="cpu")
    caught("qa: null score read at position 1", qa_differences(sensekit_answers(answerer.answer)))

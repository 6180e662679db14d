"""Whisper, YAMNet and the QA model against their original implementations, on real media.

Same weights on both sides, live: openai-whisper (PyTorch) for Whisper, the source ONNX
under raw onnxruntime with YAMNet's documented front end for YAMNet, and the Hugging Face
QA pipeline (PyTorch) for minilm-qa (see speech_reference.py, sound_reference.py and
qa_reference.py). The tolerances are measured; test_audio_text_mutations.py proves
they are tight enough to see classic bugs.

The shipped Whisper and QA graphs are int8. The exact comparisons run sensekit's task
code on float32 graphs converted by sensekit from the same weights; the shipped packages
are held to what int8 keeps (Whisper: the same words and segment times; QA: most answers).
"""

from __future__ import annotations

import functools

import pytest
from qa_reference import (
    agreeing,
    fp32_qa_package,
    hf_answers,
    qa_differences,
    sensekit_answers,
    squad_questions,
)
from sound_reference import (
    RESAMPLED_SOUND_CLIPS,
    SOUND_CLIPS,
    resampled_16k,
    yamnet_differences,
    yamnet_reference,
    yamnet_source,
)
from speech_reference import (
    SPEECH_CLIPS,
    MelDifference,
    fp32_whisper_package,
    openai_transcript,
    sensekit_transcript,
    speech_clip,
    transcript_differences,
)

from sensekit import language
from sensekit.language import QuestionAnswerer
from sensekit.sound import SoundClassifier
from sensekit.speech import Transcriber

WHISPER = "whisper-tiny.en"
# Shipped int8 QA against the float32 pipeline: measured 12 of 16 questions answered
# alike (the others: a word more or less, or another candidate of close score).
INT8_QA_AGREEMENT = 0.6


# -- Whisper -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fp32_runs() -> dict:
    transcriber = Transcriber.from_model(fp32_whisper_package(WHISPER), compute_units="cpu")
    return {clip: sensekit_transcript(transcriber, speech_clip(clip)) for clip in SPEECH_CLIPS}


@pytest.mark.parametrize("clip", SPEECH_CLIPS)
def test_whisper_transcript_equals_openai_whisper(fp32_runs, clip) -> None:
    theirs = openai_transcript(WHISPER, speech_clip(clip))
    assert transcript_differences(fp32_runs[clip], theirs) == []
    assert len(theirs.text.split()) >= 8  # the clip is real speech, not an empty agreement


@pytest.mark.parametrize("clip", SPEECH_CLIPS)
def test_whisper_encoder_input_equals_openai_log_mel(fp32_runs, clip) -> None:
    """The mel sensekit's Transcriber feeds its encoder (file read, resampled, windowed,
    padded) against openai-whisper's transcribe() front end on the same file.
    tests/accelerate/test_dsp.py checks ``dsp.log_mel_whisper`` alone on an array."""
    difference = MelDifference.of(
        fp32_runs[clip].mel, openai_transcript(WHISPER, speech_clip(clip)).mel
    )
    print(f"{clip}: {difference}")
    assert difference.problems(resampled=SPEECH_CLIPS[clip]) == []


@pytest.mark.parametrize("clip", SPEECH_CLIPS)
def test_shipped_whisper_same_words_and_segments(clip) -> None:
    shipped = Transcriber.from_model(WHISPER, compute_units="cpu")
    path = speech_clip(clip)
    ours = sensekit_transcript(shipped, path)
    assert transcript_differences(ours, openai_transcript(WHISPER, path), exact=False) == []


# -- YAMNet --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sound_classifier() -> SoundClassifier:
    return SoundClassifier.from_model("yamnet", compute_units="cpu")


@pytest.mark.parametrize("name", SOUND_CLIPS)
def test_yamnet_scores_equal_source_model(sound_classifier, media, name) -> None:
    """Per-patch scores (0.96 s patches every 0.48 s) on the same 16 kHz samples."""
    assert yamnet_differences(sound_classifier, name, same_samples=True) == []
    assert yamnet_reference(resampled_16k(media(name))).max() > 0.3  # it hears something


@pytest.mark.parametrize("name", RESAMPLED_SOUND_CLIPS)
def test_yamnet_scores_on_files_at_their_own_rate(sound_classifier, name) -> None:
    """sensekit reads and resamples the file itself; the reference reads it with librosa
    (soxr HQ resampling, channels averaged)."""
    assert yamnet_differences(sound_classifier, name, same_samples=False) == []


def test_yamnet_source_quantization_matches_documentation() -> None:
    """MODELS.md documents the source graph's boundaries; the reference reads them."""
    source = yamnet_source()
    assert (source.input_scale, source.input_zero) == pytest.approx((0.047937885, 144))
    assert (source.output_scale, source.output_zero) == pytest.approx((0.7565417, 190))


# -- question answering --------------------------------------------------------------------
def test_answers_equal_hf_pipeline() -> None:
    """``language.answer`` on float32 graphs of the trained weights: the pipeline's spans."""
    answers = sensekit_answers(functools.partial(language.answer, model=str(fp32_qa_package())))
    assert qa_differences(answers) == []
    assert sum(a is not None for a in answers) >= len(answers) // 3  # not all "no answer"


def test_reference_questions_cover_windows_and_no_answer() -> None:
    questions, answers = squad_questions(), hf_answers()
    assert any(not q.one_window for q, (span, _) in zip(questions, answers) if span)
    assert any(span is None for span, _ in answers)


def test_shipped_int8_answers_mostly_equal_hf_pipeline() -> None:
    shipped = QuestionAnswerer.from_model("minilm-qa", compute_units="cpu")
    alike = agreeing(sensekit_answers(shipped.answer))
    print(f"int8 answers equal to the pipeline's: {sum(alike)} of {len(alike)}")
    assert sum(alike) >= INT8_QA_AGREEMENT * len(alike)

"""Sound benchmark: real-time factor, YAMNet front end vs librosa, batched vs per-patch.

Run: ``python bench/sound.py [--threads 2] [--repeats 7]``. Same weights and inputs
for both sides of each comparison, runs interleaved, medians reported.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np

from sensekit.accelerate import cpu


def _median_all(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable, interleaved, the order shuffled in every round."""
    times = {name: [] for name in fns}
    order = list(fns)
    for _ in range(repeats):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _median_pair(a, b, repeats: int) -> tuple[float, float]:
    """Interleaved medians of two callables, in seconds."""
    times = _median_all({"a": a, "b": b}, repeats)
    return times["a"], times["b"]


def _clip(seconds: float) -> np.ndarray:
    from sensekit.core.audio import load_audio
    from sensekit.samples import media_path

    speech = load_audio(media_path("jfk.wav"))
    ring = load_audio(media_path("phone-incoming-call.oga"))
    unit = np.concatenate([speech, np.zeros(8000, np.float32), ring])
    return np.tile(unit, int(np.ceil(seconds * 16000 / len(unit))))[: int(seconds * 16000)]


def _librosa_log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    from sensekit.accelerate import dsp

    shifted = np.pad(audio, (56, 56))  # librosa centres the 400-sample window in 512
    magnitude = np.abs(
        librosa.stft(
            shifted, n_fft=512, hop_length=160, win_length=400, window="hann", center=False
        )
    )
    mel = dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0) @ magnitude
    return np.log(mel + 0.001).T


def _with_env(name: str, value: str, fn):
    """fn run with one environment variable set (sensekit reads these per call)."""

    def run():
        old = os.environ.get(name)
        os.environ[name] = value
        try:
            return fn()
        finally:
            if old is None:
                del os.environ[name]
            else:
                os.environ[name] = old

    return run


def bench_front_end(audio: np.ndarray, repeats: int) -> None:
    import librosa

    from sensekit.accelerate import dsp

    ours = lambda: dsp.log_mel_frames(audio)
    numpy_path = _with_env("SENSEKIT_NATIVE", "0", ours)
    base_kernel = _with_env("SENSEKIT_NATIVE", "base", ours)
    two_threads = _with_env("SENSEKIT_DSP_THREADS", "2", ours)
    reference = _librosa_log_mel(audio)
    n = min(len(ours()), len(reference))
    error = float(np.max(np.abs(ours()[:n] - reference[:n])))
    error_numpy = float(np.max(np.abs(numpy_path()[:n] - reference[:n])))
    melspectrogram = lambda: librosa.feature.melspectrogram(
        y=audio,
        sr=16000,
        n_fft=512,
        hop_length=160,
        win_length=400,
        center=False,
        power=1.0,
        n_mels=64,
        fmin=125,
        fmax=7500,
        htk=True,
        norm=None,
    )
    times = _median_all(
        {
            "sensekit": ours,
            "numpy path": numpy_path,
            "2 threads": two_threads,
            "base kernel": base_kernel,
            "stft+mel": lambda: _librosa_log_mel(audio),
            "melspectrogram": melspectrogram,
        },
        repeats,
    )
    t = times["sensekit"]
    if dsp.native_kernels():
        from sensekit.accelerate import _melkernel

        kernel = f"C kernel, {_melkernel.isa()}"
    else:
        kernel = "numpy path: C kernel not built"
    print(
        f"front end ({len(audio) / 16000:.0f} s, median of {repeats}, shuffled rounds): "
        f"sensekit ({kernel}) {t * 1e3:.1f} ms; librosa stft+mel {times['stft+mel'] * 1e3:.1f} "
        f"ms ({times['stft+mel'] / t:.1f}x), librosa.feature.melspectrogram "
        f"{times['melspectrogram'] * 1e3:.1f} ms ({times['melspectrogram'] / t:.1f}x); "
        f"max |diff| {error:.2e}"
    )
    print(
        f"  sensekit numpy path {times['numpy path'] * 1e3:.1f} ms "
        f"({times['stft+mel'] / times['numpy path']:.1f}x librosa stft+mel, max |diff| "
        f"{error_numpy:.2e}); sensekit on 2 DSP threads {times['2 threads'] * 1e3:.1f} ms "
        f"({times['stft+mel'] / times['2 threads']:.1f}x); C kernel without AVX2 "
        f"{times['base kernel'] * 1e3:.1f} ms ({times['stft+mel'] / times['base kernel']:.1f}x)"
    )


def bench_model(audio: np.ndarray, threads: int, repeats: int) -> None:
    from sensekit.core.model import Model
    from sensekit.sound.identify import SoundClassifier

    classifier = SoundClassifier(Model.load("yamnet", compute_units="cpu", threads=threads))
    layout = classifier.layout(classifier.options)
    batch, _, _ = classifier._preprocess(audio, layout)
    one = lambda: np.concatenate([classifier._forward(batch[i : i + 1]) for i in range(len(batch))])
    together = lambda: classifier._forward(batch)
    assert np.array_equal(one(), together())
    t_batch, t_one = _median_pair(together, one, repeats)
    print(
        f"graph on {len(batch)} patches: batched {t_batch * 1e3:.0f} ms, one at a time "
        f"{t_one * 1e3:.0f} ms ({t_one / t_batch:.2f}x); outputs identical"
    )
    identify = lambda: classifier.identify(audio, 16000)
    t_identify, t_numpy = _median_pair(
        identify, _with_env("SENSEKIT_NATIVE", "0", identify), repeats
    )
    seconds = len(audio) / 16000
    print(
        f"identify {seconds:.0f} s of audio on {threads} threads: {t_identify * 1e3:.0f} ms "
        f"-> real-time factor {seconds / t_identify:.0f}x (goal >= 300x); with the numpy "
        f"front end {t_numpy * 1e3:.0f} ms ({seconds / t_numpy:.0f}x)"
    )


def bench_vad(audio: np.ndarray, repeats: int) -> None:
    from sensekit.sound.vad import SpeechActivity

    vad = SpeechActivity.from_model()
    t, _ = _median_pair(lambda: vad.detect(audio), lambda: None, max(1, repeats // 3))
    print(
        f"speech_activity {len(audio) / 16000:.0f} s: {t * 1e3:.0f} ms "
        f"-> real-time factor {len(audio) / 16000 / t:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    audio = _clip(args.seconds)
    bench_front_end(audio, args.repeats)
    bench_model(audio, args.threads, args.repeats)
    bench_vad(audio, args.repeats)


if __name__ == "__main__":
    main()

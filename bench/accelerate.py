"""accelerate kernels vs their peers, same inputs, interleaved rounds, medians and ratios.

Rows: Whisper log-mel (30 s) vs librosa and openai-whisper (torch STFT); YAMNet log-mel
frames vs librosa; resize + normalize vs PIL + numpy; NMS on 10k boxes vs
cv2.dnn.NMSBoxes; resampling (soxr HQ) vs scipy.signal.resample_poly (time and chirp SNR); GEMM vs numpy's matmul.
A ratio is the median over rounds of peer_time / our_time (> 1: we are faster).
Run: python bench/accelerate.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import scipy.signal
from PIL import Image

from sensekit.accelerate import cpu, dsp, image, linalg, nn
from sensekit.samples import media_path

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, settle: float = 0.02
) -> dict[str, list]:
    """Runs every contender once per round in a shuffled order (seeded); returns per-round
    seconds.

    Shuffled, not rotated: a rotation keeps the same neighbours, so whoever always ran
    right after torch paid for its OpenMP workers still spinning (sensekit's blocked
    FFT + GEMM measured 8.4 ms alone, 13.8 ms right after whisper's torch STFT). The
    ``settle`` pause before each call lets the previous contender's idle workers sleep."""
    names = list(contenders)
    for fn in contenders.values():
        fn()  # warm-up: caches, JITs, filter design
    order = random.Random(0)
    times: dict[str, list] = {n: [] for n in names}
    for _ in range(rounds):
        for name in order.sample(names, len(names)):
            time.sleep(settle)
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return times


def report(title: str, times: dict[str, list], note: str = "") -> None:
    ours = times["sensekit"]
    print(f"\n{title}" + (f"  [{note}]" if note else ""))
    for name, seconds in times.items():
        ratio = statistics.median(p / o for p, o in zip(seconds, ours))
        print(
            f"  {name:<22} median {statistics.median(seconds) * 1e3:9.2f} ms"
            + ("" if name == "sensekit" else f"   peer/ours {ratio:5.2f}x")
        )


def bench_log_mel(rounds: int) -> None:
    import librosa
    import torch
    import whisper

    audio = dsp.resample(*_load("jfk.wav"), 16000)
    audio = np.tile(audio, 3)[:480000]  # 30 s window of real speech

    def with_librosa():
        mel = librosa.feature.melspectrogram(
            y=audio, sr=16000, n_fft=400, hop_length=160, n_mels=80, pad_mode="reflect"
        )[:, :-1]
        log = np.log10(np.maximum(mel, 1e-10))
        return (np.maximum(log, log.max() - 8.0) + 4.0) / 4.0

    tensor = torch.from_numpy(audio)
    ours = dsp.log_mel_whisper(audio)
    diff_w = np.abs(ours - whisper.log_mel_spectrogram(tensor).numpy()).max()
    diff_l = np.abs(ours - with_librosa()).max()
    times = interleaved(
        {
            "sensekit": lambda: dsp.log_mel_whisper(audio),
            "librosa": with_librosa,
            "whisper (torch)": lambda: whisper.log_mel_spectrogram(tensor),
        },
        rounds,
    )
    report(
        "log-mel, Whisper 30 s window (80 x 3000)",
        times,
        f"max |diff| vs whisper {diff_w:.1e}, vs librosa {diff_l:.1e}; "
        f"torch threads {torch.get_num_threads()}",
    )


def bench_yamnet(rounds: int) -> None:
    import librosa

    audio = np.tile(dsp.resample(*_load("jfk.wav"), 16000), 2)
    filters = dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0).T

    def with_librosa():
        # librosa centres the 400-sample window in the 512 frame: pad 56 so frames align
        spec = np.abs(
            librosa.stft(np.pad(audio, 56), n_fft=512, hop_length=160, win_length=400, center=False)
        )
        return np.log(spec.T @ filters + 0.001)

    diff = np.abs(dsp.log_mel_frames(audio)[: len(with_librosa())] - with_librosa()).max()
    times = interleaved(
        {"sensekit": lambda: dsp.log_mel_frames(audio), "librosa": with_librosa}, rounds
    )
    report(f"YAMNet log-mel frames ({len(audio) / 16000:.0f} s)", times, f"max |diff| {diff:.1e}")


def bench_resize_normalize(rounds: int) -> None:
    rgb = image.decode(media_path("chelsea.png").read_bytes())
    big = cv2.resize(rgb, (1920, 1080))
    for name, picture in (("chelsea 451x300", rgb), ("1920x1080", big)):
        pil = Image.fromarray(picture)

        def ours(p=picture):
            return image.normalize(image.resize(p, 224, 224), 1 / 255.0, MEAN, STD)

        def peer(p=pil):
            x = np.asarray(p.resize((224, 224), Image.BILINEAR), np.float32) / 255.0
            return ((x - MEAN) / STD).astype(np.float32).transpose(2, 0, 1)[None]

        diff = np.abs(ours() - peer()).mean()
        report(
            f"resize 224 bilinear + normalize NCHW, {name}",
            interleaved({"sensekit": ours, "PIL + numpy": peer}, rounds),
            f"mean |diff| {diff:.3f} (PIL filters differently on downscale)",
        )


def bench_nms(rounds: int) -> None:
    rng = np.random.default_rng(0)
    for label, boxes in (
        ("clustered (300 objects)", _clustered(rng, 10_000, 300)),
        ("uniform small boxes", _uniform(rng, 10_000)),
    ):
        scores = rng.random(len(boxes)).astype(np.float32)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        rects, confidences = xywh.tolist(), scores.tolist()
        ours = nn.nms(boxes, scores, 0.5)
        theirs = np.asarray(cv2.dnn.NMSBoxes(rects, confidences, 0.0, 0.5)).ravel()
        same = np.array_equal(np.sort(ours), np.sort(theirs))
        times = interleaved(
            {
                "sensekit": lambda b=boxes, s=scores: nn.nms(b, s, 0.5),
                "cv2.dnn.NMSBoxes": lambda r=rects, c=confidences: cv2.dnn.NMSBoxes(r, c, 0.0, 0.5),
            },
            max(3, rounds // 3),
        )
        report(
            f"NMS 10k boxes, {label}",
            times,
            f"kept {len(ours)}, identical to cv2: {same}; cv2 timed on lists it needs",
        )


def bench_resample(rounds: int) -> None:
    for source, target in ((44100, 16000), (48000, 16000)):
        _bench_resample_pair(source, target, max(3, rounds // 3))


def _bench_resample_pair(source: int, target: int, rounds: int) -> None:
    import scipy.signal

    x = _chirp(source, 10.0, 0.45 * target).astype(np.float32)
    reference = _chirp(target, 10.0, 0.45 * target)
    contenders = {  # sensekit resamples with soxr HQ; scipy's polyphase is the usual peer
        "sensekit": lambda: dsp.resample(x, source, target),
        "scipy resample_poly": lambda: scipy.signal.resample_poly(x, target, source),
    }
    snr = {name: _snr(fn(), reference) for name, fn in contenders.items()}
    report(
        f"resample 10 s {source} -> {target} Hz",
        interleaved(contenders, rounds),
        f"chirp SNR ours {snr['sensekit']:.1f} dB, scipy {snr['scipy resample_poly']:.1f} dB",
    )


def bench_gemm(rounds: int) -> None:
    print(f"\nBLAS: {linalg.blas_summary()}")
    for n in (512, 1024, 2048):
        _bench_gemm_size(n, rounds)


def _bench_gemm_size(n: int, rounds: int) -> None:
    rng = np.random.default_rng(n)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    out = np.empty((n, n), np.float32)
    times = interleaved(
        {
            "sensekit": lambda: linalg.gemm(a, b, out=out),
            "numpy matmul": lambda: np.matmul(a, b, out=out),
        },
        rounds,
    )
    gflops = {k: 2.0 * n**3 / statistics.median(v) / 1e9 for k, v in times.items()}
    report(
        f"GEMM {n}^3 float32",
        times,
        f"GFLOP/s ours {gflops['sensekit']:.1f}, numpy {gflops['numpy matmul']:.1f}",
    )


def _load(name: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, rate = sf.read(media_path(name), dtype="float32")
    return dsp.to_mono_float(audio), rate


def _chirp(rate: int, seconds: float, top_hz: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return scipy.signal.chirp(t, 50.0, seconds, top_hz, method="logarithmic")


def _snr(signal: np.ndarray, reference: np.ndarray, trim: int = 200) -> float:
    n = min(len(signal), len(reference))
    s, r = signal[trim : n - trim], reference[trim : n - trim]
    return float(10 * np.log10(np.sum(r**2) / np.sum((s - r) ** 2)))


def _clustered(rng, n: int, clusters: int, size: float = 640.0) -> np.ndarray:
    centers, extent = rng.uniform(0, size, (clusters, 2)), rng.uniform(10, 150, (clusters, 2))
    k = rng.integers(0, clusters, n)
    c, s = centers[k] + rng.normal(0, 8, (n, 2)), extent[k] * rng.uniform(0.8, 1.2, (n, 2))
    return np.concatenate([c - s / 2, c + s / 2], 1).astype(np.float32)


def _uniform(rng, n: int) -> np.ndarray:
    corner = rng.uniform(0, 600, (n, 2))
    return np.concatenate([corner, corner + rng.uniform(5, 40, (n, 2))], 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", nargs="*", help="subset: logmel yamnet image nms resample gemm")
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    benches = {
        "logmel": bench_log_mel,
        "yamnet": bench_yamnet,
        "image": bench_resize_normalize,
        "nms": bench_nms,
        "resample": bench_resample,
        "gemm": bench_gemm,
    }
    for key, bench in benches.items():
        if not args.only or key in args.only:
            bench(args.rounds)


if __name__ == "__main__":
    main()

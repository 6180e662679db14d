"""Safe defaults: loopback only unless a token (or --insecure) is given, Bearer tokens,
Host and Origin checks, a bounded queue (503 + Retry-After) and a per-request timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile
from serve_helpers import LOOPBACK, free_port, start_server

from sensekit import vision
from sensekit.core.errors import InvalidInput
from sensekit.serve.config import ServeConfig, is_loopback, parse_models

TOKEN = "s3cret-token-for-tests"
TIMEOUT_S = 1.5


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", ""):
        assert not is_loopback(host), host


def test_a_public_host_needs_a_token_or_insecure():
    models = parse_models("classify")
    with pytest.raises(InvalidInput, match=r"--token T .* or --insecure"):
        ServeConfig(host="0.0.0.0", models=models)
    assert ServeConfig(host="0.0.0.0", models=models, token=TOKEN).token == TOKEN
    assert ServeConfig(host="0.0.0.0", models=models, insecure=True).insecure
    with pytest.raises(InvalidInput, match="at least 8"):
        ServeConfig(models=models, token="short")
    with pytest.raises(InvalidInput, match="--queue"):
        ServeConfig(models=models, queue=-1)
    with pytest.raises(InvalidInput, match="Unknown task 'clasify'"):
        parse_models("clasify")
    assert parse_models("classify, transcribe=whisper-base") == {
        "classify": "efficientnet-lite0",
        "transcribe": "whisper-base",
    }


def test_the_cli_refuses_a_public_host_without_token_before_binding():
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensekit.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--models",
            "classify",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "sensekit: error: --host 0.0.0.0 is reachable from other machines" in done.stderr
    assert "Traceback" not in done.stderr
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect((LOOPBACK, port))  # nothing was started on the port


def test_host_and_origin_checks(client, media):
    image = {"image": ("cat.png", media("chelsea.png").read_bytes(), "image/png")}
    rebound = client.get("/health", headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 403 and "not this machine" in rebound.json()["error"]["message"]
    cross = client.post("/v1/classify", files=image, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "cross-origin" in cross.json()["error"]["message"]
    same = client.post("/v1/classify", files=image, headers={"Origin": str(client.base_url)})
    assert same.status_code == 200
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A token, one worker, no queue, a short timeout."""
    log = tmp_path_factory.mktemp("guarded") / "server.log"
    running = start_server(
        [
            "--models",
            "classify,transcribe",
            "--token",
            TOKEN,
            "--workers",
            "1",
            "--queue",
            "0",
            "--timeout",
            str(TIMEOUT_S),
        ],
        log,
    )
    yield running
    running.stop()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_required_on_the_api(guarded, media):
    image = media("chelsea.png").read_bytes()
    health = httpx.get(guarded.url("/health"), timeout=30)
    assert health.status_code == 200 and health.json()["auth"] is True
    assert httpx.get(guarded.url("/"), timeout=30).status_code == 200  # the page has no secrets
    for headers in ({}, _auth("wrong-token-123"), {"Authorization": f"Basic {TOKEN}"}):
        for response in (
            httpx.get(guarded.url("/v1/models"), headers=headers, timeout=30),
            httpx.post(
                guarded.url("/v1/classify"),
                headers=headers,
                timeout=30,
                files={"image": ("cat.png", image, "image/png")},
            ),
        ):
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "token" in response.json()["error"]["message"]
    good = _classify(guarded, image)
    assert good.status_code == 200
    assert good.json() == [c.to_dict() for c in vision.classify(media("chelsea.png"))]


def _classify(server, image: bytes) -> httpx.Response:
    return httpx.post(
        server.url("/v1/classify"),
        headers=_auth(),
        timeout=120,
        files={"image": ("cat.png", image, "image/png")},
    )


def _wait_busy(server, busy: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.url("/health"), timeout=30).json()["busy"] == busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server never had {busy} requests in progress")


def test_full_queue_is_503_and_slow_requests_are_504(guarded, media, tmp_path):
    image = media("chelsea.png").read_bytes()
    for _ in range(20):  # the first call creates the ONNX Runtime session: may pass the timeout
        if _classify(guarded, image).status_code == 200:
            break
        _wait_busy(guarded, 0, 120)
    samples, rate = soundfile.read(media("jfk.wav"), dtype="int16")
    long_audio = tmp_path / "jfk3.wav"
    soundfile.write(long_audio, np.concatenate([samples] * 3), rate)
    answers = {}

    def transcribe() -> None:
        answers["slow"] = httpx.post(
            guarded.url("/v1/transcribe"),
            headers=_auth(),
            timeout=300,
            files={"audio": ("jfk3.wav", long_audio.read_bytes(), "audio/wav")},
        )

    worker = threading.Thread(target=transcribe)
    worker.start()
    try:
        _wait_busy(guarded, 1, 60)
        busy = _classify(guarded, image)
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["retry-after"]) >= 1
        assert busy.json()["error"]["type"] == "Busy"
    finally:
        worker.join(timeout=300)
    slow = answers["slow"]
    assert slow.status_code == 504, slow.text
    error = slow.json()["error"]
    assert f"longer than {TIMEOUT_S:g} s" in error["message"]
    assert f"error {error['id']} in transcribe" in guarded.log()  # logged under its id
    _wait_busy(guarded, 0, 300)  # the timed-out work holds its slot until it ends
    assert _classify(guarded, image).status_code == 200


def test_a_client_that_stops_sending_is_answered_408(guarded):
    """A body that never completes must not hold its slot beyond --timeout."""
    with socket.create_connection((LOOPBACK, guarded.port), timeout=60) as connection:
        connection.sendall(
            f"POST /v1/classify HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: image/png\r\n"
            f"Content-Length: 100000\r\n\r\n".encode()
            + b"\x89PNG" * 4
        )
        start = time.monotonic()
        received = connection.recv(65536)
        waited = time.monotonic() - start
        while chunk := connection.recv(65536):  # the server closes after answering
            received += chunk
    answer = received.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "did not arrive within" in answer
    assert TIMEOUT_S * 0.8 < waited < TIMEOUT_S + 30
    _wait_busy(guarded, 0, 30)

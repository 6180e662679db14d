"""Bad requests answer the right 4xx with sensekit's message as JSON, and the server goes
on serving: every test ends by checking that a good request still works."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile

from sensekit import speech
from sensekit.core.errors import InvalidInput
from sensekit.vision.image_input import load_image

LIMIT = 4 * 2**20  # the session server runs with --max-upload-mb 4


def error_of(response, status: int) -> str:
    """The error message of a JSON error answer with ``status``; never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    return error["message"]


@pytest.fixture
def still_serving(client, media):
    """After the test, a good request must still answer 200."""
    yield
    response = client.post(
        "/v1/classify", files={"image": ("cat.png", media("chelsea.png").read_bytes())}
    )
    assert response.status_code == 200 and response.json()[0]["label"] == "tiger cat"
    assert client.get("/health").json()["busy"] == 0


def test_oversize_upload_is_413_with_and_without_content_length(client, still_serving):
    blob = os.urandom(LIMIT + 1024)
    declared = client.post("/v1/classify", files={"image": ("big.jpg", blob, "image/jpeg")})
    assert "over the 4 MiB limit" in error_of(declared, 413)

    def chunks():
        for start in range(0, len(blob), 256 * 1024):
            yield blob[start : start + 256 * 1024]

    chunked = client.post("/v1/classify", content=chunks(), headers={"Content-Type": "image/jpeg"})
    assert chunked.request.headers.get("transfer-encoding") == "chunked"  # no Content-Length
    assert "over the 4 MiB limit" in error_of(chunked, 413)


def test_wrong_content_types_are_415(client, media, still_serving):
    plain = client.post("/v1/classify", content=b"hello", headers={"Content-Type": "text/plain"})
    assert "multipart/form-data, application/json, image/*" in error_of(plain, 415)
    audio_as_image = client.post(
        "/v1/classify", files={"image": ("jfk.wav", media("jfk.wav").read_bytes(), "audio/wav")}
    )
    assert "image upload has Content-Type 'audio/wav'" in error_of(audio_as_image, 415)
    image_as_audio = client.post(
        "/v1/transcribe",
        content=media("dog.jpg").read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    error_of(image_as_audio, 415)


def test_corrupt_image_is_400_with_the_sensekit_message(client, media, still_serving):
    truncated = media("dog.jpg").read_bytes()[:2000]
    response = client.post("/v1/detect", files={"image": ("dog.jpg", truncated, "image/jpeg")})
    with pytest.raises(InvalidInput) as expected:
        load_image(truncated)
    assert error_of(response, 400) == str(expected.value)
    not_an_image = client.post("/v1/pose", files={"image": ("x.png", b"GIF89a-nope", "image/png")})
    assert "not a decodable image" in error_of(not_an_image, 400)


def test_empty_audio_is_400(client, still_serving):
    empty_file = client.post("/v1/transcribe", files={"audio": ("empty.wav", b"", "audio/wav")})
    with pytest.raises(InvalidInput) as expected:
        speech.transcribe(b"")
    assert error_of(empty_file, 400) == str(expected.value)
    no_samples = io.BytesIO()
    soundfile.write(no_samples, np.zeros(0, np.int16), 16000, format="WAV")
    for task in ("transcribe", "identify", "speech-activity"):
        response = client.post(
            f"/v1/{task}", files={"audio": ("silence.wav", no_samples.getvalue(), "audio/wav")}
        )
        assert "empty" in error_of(response, 400).lower()


def test_missing_fields_are_400(client, still_serving):
    no_image = client.post(
        "/v1/classify", files={"other": ("a.png", b"x", "image/png")}, data={"top_k": "1"}
    )
    assert error_of(no_image, 400) == "/v1/classify needs image; missing image"
    no_document = client.post("/v1/answer", json={"question": "who?"})
    assert "missing document" in error_of(no_document, 400)
    text_as_image = client.post(
        "/v1/classify", data={"image": "not a file"}, files={"unused": ("u.txt", b"", "text/plain")}
    )
    assert error_of(text_as_image, 400)


def test_unknown_and_badly_typed_options_are_400(client, media, still_serving):
    image = {"image": ("cat.png", media("chelsea.png").read_bytes(), "image/png")}
    unknown = client.post("/v1/classify", files=image, data={"topk": "3"})
    assert error_of(unknown, 400).startswith("Unknown option(s) ['topk'] for classify; valid:")
    wrong_type = client.post("/v1/classify", files=image, data={"top_k": "three"})
    assert error_of(wrong_type, 400) == "option top_k must be an integer, not 'three'"
    json_type = client.post("/v1/answer", json={"question": "q", "document": "d", "top_k": "2"})
    assert error_of(json_type, 400) == "option top_k must be an integer, not '2'"
    invalid_value = client.post("/v1/classify", files=image, data={"top_k": "0"})
    assert "top_k" in error_of(invalid_value, 400)
    bad_vad = client.post(
        "/v1/speech-activity?threshold=1.5",
        files={"audio": ("a.wav", media("jfk.wav").read_bytes())},
    )
    assert "threshold must be in (0, 1)" in error_of(bad_vad, 400)


def test_malformed_json_and_base64_are_400(client, still_serving):
    broken = client.post(
        "/v1/classify", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in error_of(broken, 400)
    a_list = client.post("/v1/classify", json=[1, 2])
    assert "must be a JSON object" in error_of(a_list, 400)
    bad_base64 = client.post("/v1/classify", json={"image": "***"})
    assert "not valid base64" in error_of(bad_base64, 400)


def test_unknown_paths_methods_and_streams(client, media, still_serving):
    assert "no endpoint /v1/nothing" in error_of(client.post("/v1/nothing"), 404)
    error_of(client.get("/v1/classify"), 405)
    streamed = client.post(
        "/v1/classify?stream=true", files={"image": ("cat.png", media("chelsea.png").read_bytes())}
    )
    assert "does not stream" in error_of(streamed, 400)
    bad_stream = client.post(
        "/v1/transcribe?stream=true", files={"audio": ("x.wav", b"RIFF-broken", "audio/wav")}
    )
    assert "Cannot decode" in error_of(bad_stream, 400)

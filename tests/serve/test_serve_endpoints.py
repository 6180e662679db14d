"""Every endpoint answers what the Python API answers for the same file, in each encoding."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
import soundfile

from sensekit import language, sound, speech, vision
from sensekit.core import registry
from sensekit.core.tasks import TASKS

QUESTION = "Where is the Eiffel Tower?"
DOCUMENT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
    "France. It is named after the engineer Gustave Eiffel, whose company designed "
    "and built the tower from 1887 to 1889."
)
SENTENCES = ["A cat sleeps on the sofa.", "Stock markets fell sharply today."]

# task -> (file, options sent to the server, the Python API call on the same file)
CASES = {
    "classify": (
        "chelsea.png",
        {"top_k": 3},
        lambda p: [c.to_dict() for c in vision.classify(p, top_k=3)],
    ),
    "detect": (
        "dog.jpg",
        {"score_threshold": 0.3},
        lambda p: [d.to_dict() for d in vision.detect(p, score_threshold=0.3)],
    ),
    "pose": ("person.jpg", {}, lambda p: [b.to_dict() for b in vision.pose(p)]),
    "transcribe": ("jfk.wav", {}, lambda p: speech.transcribe(p).to_dict()),
    "identify": (
        "phone-incoming-call.oga",
        {"top_k": 2},
        lambda p: [e.to_dict() for e in sound.identify(p, top_k=2)],
    ),
    "classify-sound": (
        "Front_Center.wav",
        {"top_k": 5, "score_threshold": 0.0},
        lambda p: [c.to_dict() for c in sound.classify(p, top_k=5, score_threshold=0.0)],
    ),
    "speech-activity": ("jfk.wav", {}, lambda p: [r.to_dict() for r in sound.speech_activity(p)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_media_endpoint_equals_the_python_api(name, client, media):
    file_name, options, python_api = CASES[name]
    path = media(file_name)
    field = TASKS[name].inputs[0]
    response = client.post(
        f"/v1/{name}",
        files={field: (file_name, path.read_bytes())},
        data={k: str(v) for k, v in options.items()},
    )
    assert response.status_code == 200, response.text
    expected = python_api(path)
    assert response.json() == expected
    assert expected, f"{name} found nothing in {file_name}: the comparison would be empty"


def test_classify_is_the_same_as_multipart_json_and_raw_bytes(client, media):
    data = media("coffee.png").read_bytes()
    expected = [c.to_dict() for c in vision.classify(media("coffee.png"), top_k=2)]
    as_form = client.post(
        "/v1/classify", files={"image": ("coffee.png", data, "image/png")}, data={"top_k": "2"}
    )
    as_form_json = client.post(
        "/v1/classify",
        data={"options": '{"top_k": 2}'},
        files={"image": ("coffee.png", data, "image/png")},
    )
    as_json = client.post(
        "/v1/classify", json={"image": base64.b64encode(data).decode(), "options": {"top_k": 2}}
    )
    as_data_url = client.post(
        "/v1/classify",
        json={"image": "data:image/png;base64," + base64.b64encode(data).decode(), "top_k": 2},
    )
    as_raw = client.post(
        "/v1/classify?top_k=2", content=data, headers={"Content-Type": "image/png"}
    )
    for response in (as_form, as_form_json, as_json, as_data_url, as_raw):
        assert response.status_code == 200, response.text
        assert response.json() == expected
    assert expected[0]["label"] == "espresso"


def test_answer_equals_the_python_api(client):
    response = client.post(
        "/v1/answer", data={"question": QUESTION, "document": DOCUMENT, "top_k": "2"}
    )
    assert response.status_code == 200, response.text
    expected = [a.to_dict() for a in language.answer(QUESTION, DOCUMENT, top_k=2)]
    assert response.json() == expected
    assert "Champ de Mars" in expected[0]["text"]
    single = client.post("/v1/answer", json={"question": QUESTION, "document": DOCUMENT})
    assert single.json() == language.answer(QUESTION, DOCUMENT).to_dict()


def test_embed_equals_the_python_api_for_one_text_and_a_list(client):
    one = client.post("/v1/embed", json={"text": SENTENCES[0]})
    assert one.status_code == 200, one.text
    assert one.json() == language.embed(SENTENCES[0]).tolist()
    several = client.post("/v1/embed", json={"text": SENTENCES, "normalize": False})
    assert several.json() == language.embed(SENTENCES, normalize=False).tolist()
    raw = client.post(
        "/v1/embed",
        content=SENTENCES[1].encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    assert raw.json() == language.embed(SENTENCES[1]).tolist()
    vectors = np.array(several.json())
    assert vectors.shape[0] == 2 and not np.allclose(vectors[0], vectors[1])


def test_transcribe_streams_segments_as_they_are_decoded(client, media, tmp_path):
    """Four JFK clips in a row span two 30 s windows: the first window's segments must
    arrive before the second window is decoded, and together equal the Python API's."""
    samples, rate = soundfile.read(media("jfk.wav"), dtype="int16")
    path = tmp_path / "jfk4.wav"
    soundfile.write(path, np.concatenate([samples] * 4), rate)
    records, arrivals = [], []
    start = time.monotonic()
    with client.stream(
        "POST",
        "/v1/transcribe?stream=true",
        files={"audio": ("jfk4.wav", path.read_bytes(), "audio/wav")},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for line in response.iter_lines():
            if line.strip():
                records.append(json.loads(line))
                arrivals.append(time.monotonic() - start)
    transcript = speech.transcribe(path)
    segments = [r["segment"] for r in records if r["type"] == "segment"]
    assert segments == [s.to_dict() for s in transcript.segments]
    assert records[-1] == {"type": "done", "text": transcript.text}
    assert len(segments) >= 4 and transcript.text.count("ask not") == 4
    last_window = [i for i, s in enumerate(segments) if s["end"] > 30.0]
    assert last_window and last_window[0] > 0
    assert arrivals[0] < arrivals[last_window[0]] - 0.2, arrivals


def test_models_lists_the_served_tasks_and_built_manifests(client):
    info = client.get("/v1/models").json()
    built = {name for name, spec in TASKS.items() if registry.is_built(spec.default_model)}
    assert set(info["tasks"]) == built >= set(CASES)  # a plain serve: every built task
    for name, task in info["tasks"].items():
        spec = TASKS[name]
        assert task["inputs"] == list(spec.inputs) and task["model"] == spec.default_model
        assert set(task["options"]) == set(spec.option_fields())
        assert info["models"][spec.default_model]["built"] is True
        for member in registry.members(spec.default_model):  # "a+b": fused by the task
            assert info["models"][member]["manifest"]["name"] == member
        if "+" in spec.default_model:
            assert info["models"][spec.default_model]["members"] == spec.default_model.split("+")
    top_k = info["tasks"]["classify"]["options"]["top_k"]
    assert top_k["type"] == "integer"
    assert top_k["default"] == TASKS["classify"].option_fields()["top_k"].default
    assert top_k["description"].startswith("how many categories")  # from the docstring
    assert info["tasks"]["transcribe"]["streaming"] is True
    assert ["left_shoulder", "right_shoulder"] in info["skeleton"]


def test_health_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["auth"] is False and health["workers"] == 2
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {f"/v1/{name}" for name in CASES} | {"/v1/answer", "/v1/embed"} <= set(document["paths"])
    body = document["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(body)
    form = body["multipart/form-data"]["schema"]
    assert form["required"] == ["image"]
    assert (
        form["properties"]["iou_threshold"]["default"]
        == TASKS["detect"].option_fields()["iou_threshold"].default
    )
    streamed = document["paths"]["/v1/transcribe"]["post"]["parameters"]
    assert any(p["name"] == "stream" for p in streamed)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text

"""The web page: self-contained (nothing fetched from elsewhere), and in a real headless
Chromium it draws a detection result on the image, highlights an answer and lists a
streamed transcript."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from sensekit import language, speech, vision
from sensekit.serve.app import STATIC

SCREENSHOT = Path("/tmp/serve_page.png")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an identifier in the DOM API, never fetched


def test_static_files_reference_nothing_outside_the_server():
    files = sorted(STATIC.iterdir())
    assert {p.name for p in files} >= {"index.html", "app.js", "style.css", "docs.html", "docs.js"}
    for path in files:
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
        assert not re.search(r"@import|<iframe|\beval\(|new Function", text), path.name
        for link in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert link.startswith("/"), (path.name, link)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver_path, "chromium and chromium-driver: run scripts/install.sh"
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open_task(browser, server, task: str) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server.url("/"))
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element("id", "run").is_enabled())
    Select(browser.find_element("id", "task")).select_by_value(task)


def _run(browser) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element("id", "run").click()
    WebDriverWait(browser, 300).until(
        lambda d: d.find_element("id", "output").get_attribute("data-state") in ("done", "error")
    )
    output = browser.find_element("id", "output")
    assert output.get_attribute("data-state") == "done", browser.find_element("id", "message").text


def _pixel(browser, x: float, y: float) -> list[int]:
    return browser.execute_script(
        "return Array.from(document.getElementById('canvas').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data);",
        round(x),
        round(y),
    )


def _rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def test_page_draws_detections_on_the_uploaded_image(browser, server, media):
    _open_task(browser, server, "detect")
    browser.find_element("id", "image-file").send_keys(str(media("dog.jpg")))
    _run(browser)
    canvas = browser.find_element("id", "canvas")
    drawn = json.loads(canvas.get_attribute("data-drawn"))
    expected = vision.detect(media("dog.jpg"))
    assert [box["label"] for box in drawn] == [d.label for d in expected]
    assert {"dog", "bicycle"} <= {box["label"] for box in drawn}
    width = int(canvas.get_attribute("width"))
    for box, detection in zip(drawn, expected):
        assert box["x0"] == pytest.approx(detection.box.x_min * width, abs=0.01)
        # the box's colour is on the canvas where its edges are
        edges = [
            ((box["x0"] + box["x1"]) / 2, box["y1"]),
            (box["x0"], (box["y0"] + box["y1"]) / 2),
            (box["x1"], (box["y0"] + box["y1"]) / 2),
        ]
        colors = [_pixel(browser, x, y)[:3] for x, y in edges]
        assert any(max(abs(a - b) for a, b in zip(c, _rgb(box["color"]))) < 40 for c in colors), (
            box,
            colors,
        )
    middle = _pixel(browser, width / 2, int(canvas.get_attribute("height")) / 2)
    assert middle[3] == 255  # the photo is drawn under the boxes
    assert "dog" in browser.find_element("id", "view").text
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def test_page_highlights_the_answer_in_the_text(browser, server):
    _open_task(browser, server, "answer")
    question = browser.find_element("id", "question").get_attribute("value")
    document = browser.find_element("id", "document").get_attribute("value")
    _run(browser)
    marked = browser.find_element("css selector", "#view mark").text
    assert marked == language.answer(question, document).text
    browser.save_screenshot("/tmp/serve_page_answer.png")


def test_page_streams_a_transcript_with_timestamps(browser, server, media):
    _open_task(browser, server, "transcribe")
    browser.find_element("id", "audio-file").send_keys(str(media("jfk.wav")))
    _run(browser)
    items = browser.find_elements("css selector", "#view .segments li")
    segments = speech.transcribe(media("jfk.wav")).segments
    assert [item.find_element("css selector", ".time").text for item in items] == [
        f"00:{s.start:04.1f} → 00:{s.end:04.1f}" for s in segments
    ]
    assert "ask not what your country can do for you" in browser.find_element("id", "view").text
    browser.save_screenshot("/tmp/serve_page_transcribe.png")


def test_page_draws_a_skeleton_and_a_sound_timeline(browser, server, media):
    _open_task(browser, server, "pose")
    browser.find_element("id", "image-file").send_keys(str(media("person.jpg")))
    _run(browser)
    drawn = json.loads(browser.find_element("id", "canvas").get_attribute("data-drawn"))
    poses = vision.pose(media("person.jpg"))
    assert len(drawn) == len(poses) >= 1
    assert drawn[0]["keypoints"] == sum(k.confidence >= 0.5 for k in poses[0].keypoints) > 10
    browser.save_screenshot("/tmp/serve_page_pose.png")

    from sensekit import sound

    _open_task(browser, server, "identify")
    browser.find_element("id", "audio-file").send_keys(str(media("phone-incoming-call.oga")))
    _run(browser)
    events = sound.identify(media("phone-incoming-call.oga"))
    bars = browser.find_elements("css selector", "#view svg.timeline rect")
    lanes = [t.text for t in browser.find_elements("css selector", "#view svg.timeline text")]
    assert len(bars) == len(events) >= 1
    assert {e.label[:24] for e in events} <= set(lanes)
    browser.save_screenshot("/tmp/serve_page_identify.png")


def test_docs_page_renders_every_endpoint(browser, server, client):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url("/docs"))
    WebDriverWait(browser, 60).until(lambda d: d.find_elements("css selector", "article"))
    headings = [h.text for h in browser.find_elements("css selector", "article h2")]
    served = client.get("/v1/models").json()["tasks"]
    assert {f"POST /v1/{name}" for name in served} <= set(headings)
    assert len(served) >= 9
    assert "GET /v1/models" in headings and "GET /health" in headings
    assert "curl -F image=@FILE" in browser.find_element("tag name", "main").text
    browser.save_screenshot("/tmp/serve_docs.png")

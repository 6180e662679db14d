// The sensekit page: pick a task, give it an image, audio or text, see the result drawn.
// Plain browser JavaScript, no build step and nothing fetched but this server's API.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#e6194b", "#3cb44b", "#0082c8", "#f58230", "#911eb4", "#46f0f0",
                 "#f032e6", "#d2f53c", "#008080", "#aa6e28", "#800000", "#000080"];
const MIN_KEYPOINT_CONFIDENCE = 0.5;  // as sensekit.vision.draw
const RECORD_RATE = 16000;  // Hz: recordings are sent as 16 kHz mono WAV

const state = { info: null, image: null, imageBitmap: null, audio: null, recorder: null };

// -- talking to the server --------------------------------------------------------------

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) throw new Error(errorText(body, response.status));
  return body;
}

function errorText(body, status) {
  const error = (body && body.error) || {};
  const id = error.id ? ` (error id ${error.id})` : "";
  return `${status} ${error.type || ""}: ${error.message || "request failed"}${id}`;
}

async function start() {
  const health = await (await fetch("/health")).json();
  $("token-row").hidden = !health.auth;
  $("token").value = localStorage.getItem("sensekit-token") || "";
  $("token").addEventListener("change", () => {
    localStorage.setItem("sensekit-token", $("token").value.trim());
    loadTasks();
  });
  await loadTasks();
}

async function loadTasks() {
  try {
    state.info = await getJson("/v1/models");
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  const select = $("task");
  const previous = select.value;
  select.replaceChildren();
  for (const [name, task] of Object.entries(state.info.tasks)) {
    select.append(new Option(`${name} — ${task.summary}`, name));
  }
  if (previous in state.info.tasks) select.value = previous;
  const count = Object.keys(state.info.tasks).length;
  $("status").textContent = `${count} tasks served`;
  $("run").disabled = false;
  showTask();
}

// -- the input side ---------------------------------------------------------------------

function currentTask() {
  return state.info.tasks[$("task").value];
}

function showTask() {
  const task = currentTask();
  const inputs = new Set(task.inputs);
  $("summary").textContent = `${task.model} · POST ${task.endpoint}`;
  $("image-input").hidden = !inputs.has("image");
  $("audio-input").hidden = !inputs.has("audio");
  $("text-input").hidden = !inputs.has("text");
  $("qa-input").hidden = !inputs.has("question");
  $("stream-row").hidden = !task.streaming;
  buildOptions(task.options);
  clearOutput();
  if (inputs.has("image") && state.imageBitmap) drawImage();
}

function buildOptions(options) {
  const fields = $("option-fields");
  fields.replaceChildren();
  for (const [name, schema] of Object.entries(options)) {
    const label = document.createElement("label");
    label.textContent = name;
    label.htmlFor = "option-" + name;
    label.title = schema.description || "";
    const input = document.createElement("input");
    input.id = "option-" + name;
    input.dataset.option = name;
    const type = [].concat(schema.type)[0];
    if (type === "boolean") {
      input.type = "checkbox";
      input.checked = Boolean(schema.default);
    } else {
      input.type = type === "integer" || type === "number" ? "number" : "text";
      if (type === "number") input.step = "any";
      const shown = Array.isArray(schema.default) ? schema.default.join(", ") : schema.default;
      input.placeholder = shown === null || shown === undefined ? "" : String(shown);
    }
    fields.append(label, input);
  }
}

function optionValues() {
  // Only what the user changed goes to the server; the rest keeps the task's defaults.
  const values = {};
  for (const input of $("option-fields").querySelectorAll("input")) {
    const schema = currentTask().options[input.dataset.option];
    if (input.type === "checkbox") {
      if (input.checked !== Boolean(schema.default)) values[input.dataset.option] = input.checked;
    } else if (input.value.trim() !== "") {
      values[input.dataset.option] = input.value.trim();
    }
  }
  return values;
}

async function setImage(file) {
  if (!file) return;
  state.image = file;
  try {
    state.imageBitmap = await createImageBitmap(file);
  } catch (error) {
    state.imageBitmap = null;  // the server says what is wrong with it
  }
  clearOutput();
  if (state.imageBitmap) drawImage();
}

function setAudio(file) {
  if (!file) return;
  state.audio = file;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);
  player.hidden = false;
  clearOutput();
}

function dropZone(zone, accept) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    accept(event.dataTransfer.files[0]);
  });
}

// Recording: the browser's own format (webm/ogg) is decoded here and sent as WAV, which
// every audio task of sensekit reads.
async function toggleRecording() {
  const button = $("record");
  if (state.recorder) {
    state.recorder.stop();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    setStatus("no microphone: " + error.message, true);
    return;
  }
  const chunks = [];
  const recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    state.recorder = null;
    button.textContent = "● Record";
    button.classList.remove("recording");
    const blob = new Blob(chunks, { type: recorder.mimeType });
    setAudio(new File([await toWav(blob)], "recording.wav", { type: "audio/wav" }));
  };
  recorder.start();
  state.recorder = recorder;
  button.textContent = "■ Stop";
  button.classList.add("recording");
}

async function toWav(blob) {
  const decoded = await new AudioContext().decodeAudioData(await blob.arrayBuffer());
  const frames = Math.ceil(decoded.duration * RECORD_RATE);
  const offline = new OfflineAudioContext(1, frames, RECORD_RATE);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  const samples = (await offline.startRendering()).getChannelData(0);
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, RECORD_RATE, true); view.setUint32(28, RECORD_RATE * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 32767, true));
  return view.buffer;
}

// -- running a task ---------------------------------------------------------------------

function requestBody(task) {
  const form = new FormData();
  for (const input of task.inputs) {
    if (input === "image") {
      if (!state.image) throw new Error("choose or drop an image first");
      form.append("image", state.image);
    } else if (input === "audio") {
      if (!state.audio) throw new Error("choose, drop or record audio first");
      form.append("audio", state.audio);
    } else {
      form.append(input, $(input).value);
    }
  }
  for (const [name, value] of Object.entries(optionValues())) form.append(name, String(value));
  return form;
}

async function run() {
  const task = currentTask();
  const name = $("task").value;
  let body;
  try {
    body = requestBody(task);
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  const streaming = task.streaming && $("stream").checked;
  clearOutput();
  setStatus("running…");
  $("output").dataset.state = "running";
  $("run").disabled = true;
  const started = performance.now();
  try {
    const response = await fetch(task.endpoint + (streaming ? "?stream=true" : ""),
                                 { method: "POST", body, headers: authHeaders() });
    if (!response.ok) throw new Error(errorText(await response.json(), response.status));
    if (streaming) {
      await readStream(response, name);
    } else {
      render(name, await response.json());
    }
    setStatus(`${name} took ${((performance.now() - started) / 1000).toFixed(2)} s`);
    $("output").dataset.state = "done";
  } catch (error) {
    setStatus(error.message, true);
    $("output").dataset.state = "error";
  } finally {
    $("run").disabled = false;
  }
}

async function readStream(response, name) {
  // NDJSON: one {"type": "segment"} line per decoded segment, then {"type": "done"}.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const segments = [];
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines.filter((l) => l.trim())) {
      const record = JSON.parse(line);
      if (record.type === "error") throw new Error(errorText(record, record.error.status));
      if (record.type === "segment") segments.push(record.segment);
      const text = record.type === "done" ? record.text : segments.map((s) => s.text).join("");
      render(name, { text: text.trim(), segments, streaming: record.type !== "done" });
    }
  }
}

// -- showing results ----------------------------------------------------------------------

const RENDERERS = {
  "classify": renderCategories, "classify-sound": renderCategories, "detect": renderDetections,
  "pose": renderPoses, "transcribe": renderTranscript, "identify": renderEvents,
  "speech-activity": renderSpeech, "answer": renderAnswer, "embed": renderEmbedding,
};

function render(name, result) {
  $("json").textContent = JSON.stringify(result, null, 2);
  $("view").replaceChildren();
  const renderer = RENDERERS[name];
  $("raw").open = !renderer;  // a task without a drawing of its own shows its JSON
  if (renderer) renderer(result);
}

function clearOutput() {
  $("view").replaceChildren();
  $("json").textContent = "";
  $("canvas").hidden = true;
  delete $("canvas").dataset.drawn;
  $("output").dataset.state = "idle";
  setStatus("");
}

function setStatus(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function renderCategories(categories) {
  const bars = element("div", undefined, "bars");
  for (const category of categories) {
    const bar = element("div", undefined, "bar");
    bar.style.width = `${Math.max(1, category.score * 100)}%`;
    bars.append(element("span", category.label), bar,
                element("span", `${(category.score * 100).toFixed(1)}%`, "num"));
  }
  $("view").append(categories.length ? bars : element("p", "nothing above the threshold"));
}

function drawImage() {
  const canvas = $("canvas");
  const bitmap = state.imageBitmap;
  const scale = Math.min(1, 1024 / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.hidden = false;
  return context;
}

function renderDetections(detections) {
  if (!state.imageBitmap) return;
  const context = drawImage();
  const { width, height } = $("canvas");
  const drawn = [];
  context.lineWidth = Math.max(2, Math.round(width / 250));
  context.font = `${Math.max(12, Math.round(width / 45))}px sans-serif`;
  const labels = [...new Set(detections.map((d) => d.label))];  // a colour per label
  detections.forEach((detection) => {
    const color = PALETTE[labels.indexOf(detection.label) % PALETTE.length];
    const box = detection.box;
    const [x0, y0] = [box.x_min * width, box.y_min * height];
    const [x1, y1] = [box.x_max * width, box.y_max * height];
    context.strokeStyle = color;
    context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const label = `${detection.label} ${(detection.score * 100).toFixed(0)}%`;
    const textHeight = parseInt(context.font, 10) + 4;
    context.fillStyle = color;
    context.fillRect(x0, Math.max(0, y0 - textHeight), context.measureText(label).width + 8, textHeight);
    context.fillStyle = textColor(color);
    context.fillText(label, x0 + 4, Math.max(textHeight, y0) - 5);
    drawn.push({ label: detection.label, color, x0, y0, x1, y1 });
  });
  $("canvas").dataset.drawn = JSON.stringify(drawn);
  renderCategories(detections);
}

function textColor(background) {
  // dark text on light label backgrounds (relative luminance, ITU-R BT.709 weights)
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(background.slice(i, i + 2), 16));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 150 ? "#000" : "#fff";
}

function renderPoses(poses) {
  if (!state.imageBitmap) return;
  const context = drawImage();
  const { width, height } = $("canvas");
  const drawn = [];
  const radius = Math.max(3, Math.round(width / 200));
  context.lineWidth = Math.max(2, Math.round(width / 300));
  poses.forEach((pose, p) => {
    const color = PALETTE[p % PALETTE.length];
    const points = Object.fromEntries(pose.keypoints
      .filter((k) => k.confidence >= MIN_KEYPOINT_CONFIDENCE)
      .map((k) => [k.name, [k.x * width, k.y * height]]));
    context.strokeStyle = color;
    for (const [a, b] of state.info.skeleton) {
      if (!(a in points && b in points)) continue;
      context.beginPath();
      context.moveTo(...points[a]);
      context.lineTo(...points[b]);
      context.stroke();
    }
    context.fillStyle = "#fff";
    for (const [x, y] of Object.values(points)) {
      context.beginPath();
      context.arc(x, y, radius, 0, 2 * Math.PI);
      context.fill();
      context.stroke();
    }
    drawn.push({ color, keypoints: Object.keys(points).length });
  });
  $("canvas").dataset.drawn = JSON.stringify(drawn);
  $("view").append(element("p", `${poses.length} ${poses.length === 1 ? "person" : "people"}`));
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${String(minutes).padStart(2, "0")}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

function renderTranscript(transcript) {
  const heading = transcript.language ? `language: ${transcript.language}` : "";
  if (heading) $("view").append(element("p", heading, "muted"));
  const list = element("ul", undefined, "segments");
  for (const segment of transcript.segments) {
    const item = element("li");
    item.append(element("span", `${clock(segment.start)} → ${clock(segment.end)}`, "time"),
                element("span", segment.text.trim()));
    list.append(item);
  }
  if (transcript.streaming) list.append(element("li", "decoding…", "muted"));
  $("view").append(transcript.segments.length || transcript.streaming ? list
                   : element("p", "no speech found"));
}

function timeline(rows, duration) {
  // rows: [{label, color, spans: [{start, end, score}]}] -> an SVG with one lane per label
  const ns = "http://www.w3.org/2000/svg";
  const [left, lane, width] = [150, 22, 800];
  const svg = document.createElementNS(ns, "svg");
  const height = rows.length * lane + 24;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "timeline");
  const x = (t) => left + (t / duration) * (width - left - 10);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  rows.forEach((row, i) => {
    add("text", { x: 4, y: i * lane + 15 }, row.label.slice(0, 24));
    for (const span of row.spans) {
      add("rect", { x: x(span.start), y: i * lane + 4, height: lane - 8, rx: 3,
                    width: Math.max(2, x(span.end) - x(span.start)), fill: row.color,
                    "fill-opacity": 0.35 + 0.65 * (span.score ?? 1) }).append(
        Object.assign(document.createElementNS(ns, "title"), {
          textContent: `${row.label} ${span.start.toFixed(2)}–${span.end.toFixed(2)} s` }));
    }
  });
  const axis = rows.length * lane + 4;
  add("line", { x1: left, x2: width - 10, y1: axis, y2: axis, class: "axis" });
  const steps = [0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  const step = steps.find((s) => s >= duration / 8) || 1200;
  for (let i = 0; i * step <= duration + 1e-9; i++) {
    add("text", { x: x(i * step) - 6, y: axis + 16 }, `${+(i * step).toFixed(2)}s`);
  }
  return svg;
}

function audioDuration(spans) {
  const player = $("player");
  const known = Number.isFinite(player.duration) ? player.duration : 0;
  return Math.max(known, ...spans.map((s) => s.end), 1);
}

function renderEvents(events) {
  const labels = [...new Set(events.map((e) => e.label))];
  const rows = labels.map((label, i) => ({ label, color: PALETTE[i % PALETTE.length],
                                           spans: events.filter((e) => e.label === label) }));
  if (!events.length) {
    $("view").append(element("p", "no sound above the threshold"));
    return;
  }
  $("view").append(timeline(rows, audioDuration(events)));
}

function renderSpeech(ranges) {
  $("view").append(timeline([{ label: "speech", color: PALETTE[2], spans: ranges }],
                            audioDuration(ranges)));
  const total = ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  $("view").append(element("p", `${ranges.length} stretches, ${total.toFixed(1)} s of speech`));
}

function renderAnswer(result) {
  const answers = result === null ? [] : [].concat(result);
  const documentText = $("document").value;
  if (!answers.length) {
    $("view").append(element("p", "no answer in the text"));
    return;
  }
  const best = answers[0];
  $("view").append(element("p", `${best.text} (${(best.score * 100).toFixed(1)}%)`));
  const paragraph = element("p", undefined, "document");
  paragraph.append(documentText.slice(0, best.start), element("mark", documentText.slice(best.start, best.end)),
                   documentText.slice(best.end));
  $("view").append(paragraph);
}

function renderEmbedding(vectors) {
  for (const vector of Array.isArray(vectors[0]) ? vectors : [vectors]) {
    const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
    $("view").append(element("p", `${vector.length} dimensions, norm ${norm.toFixed(3)}`));
    const canvas = element("canvas");
    canvas.width = vector.length;
    canvas.height = 60;
    const context = canvas.getContext("2d");
    const top = Math.max(...vector.map(Math.abs)) || 1;
    vector.forEach((v, i) => {
      context.fillStyle = v >= 0 ? PALETTE[2] : PALETTE[0];
      const h = (Math.abs(v) / top) * 29;
      context.fillRect(i, v >= 0 ? 30 - h : 30, 1, h);
    });
    $("view").append(canvas);
  }
}

// -- wiring ----------------------------------------------------------------------------------

$("task").addEventListener("change", showTask);
$("run").addEventListener("click", run);
$("image-file").addEventListener("change", (event) => setImage(event.target.files[0]));
$("audio-file").addEventListener("change", (event) => setAudio(event.target.files[0]));
$("record").addEventListener("click", toggleRecording);
dropZone($("drop"), setImage);
dropZone($("audio-drop"), setAudio);
start().catch((error) => setStatus(error.message, true));

"""Turns an HTTP request into a task's inputs and options.

A request carries its inputs in one of three ways:

* ``multipart/form-data``: media as file fields (``image``, ``audio``), text as fields
  (``text``, ``question``, ``document``), any other field is an option (a form without
  files may also be ``application/x-www-form-urlencoded``);
* ``application/json``: an object with media as base64 strings (a ``data:`` URL works
  too), text as strings, options as the other keys or inside ``"options"``;
* the raw bytes of the one input (``image/*``, ``audio/*`` or ``text/plain``).

Options may also come as query parameters. Each option is checked against the type of
its field in the task's options dataclass, so a wrong type is a 400 that names the field
rather than an error deep inside the task.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from sensekit.core.tasks import TaskSpec
from sensekit.serve.errors import ApiError

MEDIA_INPUTS = ("image", "audio")
# Content types accepted for an uploaded medium; octet-stream (or none) leaves it to the
# decoder, which names what it cannot read.
MEDIA_TYPES = {"image": ("image/",), "audio": ("audio/", "application/ogg")}
NEUTRAL_TYPES = ("", "application/octet-stream")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
RESERVED_PARAMS = ("stream",)  # query parameters that are not options
MAX_FORM_FIELDS = 64
DRAIN_FACTOR = 4  # an oversized body is read (and dropped) up to 4x the limit, so that
# the client, still sending, sees the 413 instead of a reset connection


@dataclass(frozen=True)
class Call:
    """One request's inputs (in the task's order) and option overrides."""

    inputs: tuple[Any, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class _RawPart:
    """An uploaded file's bytes and declared content type."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class JsonValue:
    """A value that came typed from JSON (not a string to be parsed)."""

    value: Any


def media_type(header: str | None) -> str:
    """``"image/png; q=1"`` -> ``"image/png"``."""
    return (header or "").split(";")[0].strip().lower()


async def limited_stream(request: Any, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks; 413 once it is larger than ``limit`` bytes.

    Past the limit the rest is read and dropped (up to DRAIN_FACTOR x the limit) before
    the 413, so that a client still sending sees the answer, not a reset connection.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"Content-Length {declared!r} is not a number")
        if int(declared) > limit * DRAIN_FACTOR:  # too large to drain: answer at once
            raise _too_large(int(declared), limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit * DRAIN_FACTOR:
            break
        if size <= limit:
            yield chunk
    if size > limit:
        raise _too_large(size, limit)


async def read_body(request: Any, limit: int) -> bytes:
    """The whole request body (JSON and raw uploads), at most ``limit`` bytes."""
    return b"".join([chunk async for chunk in limited_stream(request, limit)])


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"request body of {size / 2**20:.1f} MiB is over the "
        f"{limit / 2**20:g} MiB limit (sensekit serve --max-upload-mb)",
    )


async def parse_call(request: Any, spec: TaskSpec, limit: int) -> Call:
    """Reads and checks a task request; raises ApiError (4xx) for anything unusable.

    The content type is checked before the body is read; multipart uploads are parsed
    as they arrive (files spool to disk past 1 MiB), so a request holds little memory.
    """
    kind = media_type(request.headers.get("content-type"))
    raw = _raw_input(spec, kind)
    if kind in FORM_TYPES:
        values = await _form_values(request, spec, limit, kind)
    elif kind == "application/json":  # parsing MiBs of JSON: off the event loop
        values = await run_in_threadpool(_json_values, await read_body(request, limit))
    elif raw:
        values = {raw: _RawPart(await read_body(request, limit), kind)}
    else:
        raise ApiError(
            415,
            f"Content-Type {kind or '(none)'!r} is not accepted by "
            f"/v1/{spec.name}; send {_accepted(spec)}",
        )
    values = _with_query(values, request.query_params.multi_items())
    return await run_in_threadpool(_to_call, spec, values)  # base64 of MiBs included


def _with_query(values: dict[str, Any], query: list[tuple[str, str]]) -> dict[str, Any]:
    """Adds query parameters (options, as text) to the body's values."""
    extra: dict[str, list[str]] = {}
    for key, value in query:
        if key in RESERVED_PARAMS:
            continue
        if key in values:
            raise ApiError(400, f"{key!r} is given both in the query and the body")
        extra.setdefault(key, []).append(value)
    values.update({key: items[0] if len(items) == 1 else items for key, items in extra.items()})
    return values


def _accepted(spec: TaskSpec) -> str:
    raw = [f"{i}/*" for i in spec.inputs if i in MEDIA_INPUTS]
    raw += ["text/plain"] if spec.inputs == ("text",) else []
    return ", ".join(["multipart/form-data", "application/json", *raw])


def _raw_input(spec: TaskSpec, kind: str) -> str | None:
    """The input a raw body of this content type fills, for one-input tasks."""
    if len(spec.inputs) != 1:
        return None
    name = spec.inputs[0]
    if name in MEDIA_INPUTS and kind.startswith(MEDIA_TYPES[name]):
        return name
    return name if name == "text" and kind == "text/plain" else None


async def _form_values(request: Any, spec: TaskSpec, limit: int, kind: str) -> dict[str, Any]:
    stream = limited_stream(request, limit)
    try:
        if kind == "multipart/form-data":
            form = await MultiPartParser(
                request.headers,
                stream,
                max_files=len(spec.inputs),
                max_fields=MAX_FORM_FIELDS,
                max_part_size=limit,
            ).parse()
        else:
            form = await FormParser(
                request.headers, stream, max_fields=MAX_FORM_FIELDS, max_part_size=limit
            ).parse()
    except MultiPartException as e:
        raise ApiError(400, e.message) from e
    try:
        return await _collect(form)
    finally:
        await form.close()


async def _collect(form: Any) -> dict[str, Any]:
    """Form items by name: uploads as _RawPart, repeated names as lists."""
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        if hasattr(value, "read"):  # an UploadFile
            value = _RawPart(await value.read(), media_type(value.content_type))
        if key == "options" and isinstance(value, str):
            values.update(
                {k: JsonValue(v) for k, v in _json_object(value, "the options field").items()}
            )
            continue
        if key in values:
            values[key] = values[key] if isinstance(values[key], list) else [values[key]]
            values[key].append(value)
        else:
            values[key] = value
    return values


def _json_values(body: bytes) -> dict[str, Any]:
    values = _json_object(body, "the request body")
    nested = values.pop("options", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise ApiError(400, '"options" must be a JSON object')
        clash = set(nested) & set(values)
        if clash:
            raise ApiError(400, f"option(s) {sorted(clash)} given twice")
        values.update(nested)
    return {key: JsonValue(value) for key, value in values.items()}


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"{what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _to_call(spec: TaskSpec, values: dict[str, Any]) -> Call:
    missing = [name for name in spec.inputs if name not in values]
    if missing:
        raise ApiError(
            400, f"/v1/{spec.name} needs {', '.join(spec.inputs)}; missing {', '.join(missing)}"
        )
    inputs = tuple(_input(name, values.pop(name)) for name in spec.inputs)
    fields = spec.option_fields()
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ApiError(400, f"Unknown option(s) {unknown} for {spec.name}; valid: {sorted(fields)}")
    return Call(
        inputs, {name: option_value(fields[name], name, value) for name, value in values.items()}
    )


def _input(name: str, value: Any) -> Any:
    if name in MEDIA_INPUTS:
        return _media(name, value)
    if isinstance(value, list) and name == "text":  # embed takes several texts
        return [_text(name, v) for v in value]
    if isinstance(value, list):
        raise ApiError(400, f"{name} is given more than once")
    if isinstance(value, JsonValue) and isinstance(value.value, list) and name == "text":
        return [_text(name, JsonValue(v)) for v in value.value]
    return _text(name, value)


def _media(name: str, value: Any) -> bytes:
    if isinstance(value, JsonValue):
        return _base64(name, value.value)
    if isinstance(value, list):
        raise ApiError(400, f"{name} is given more than once")
    if not isinstance(value, _RawPart):
        raise ApiError(400, f"{name} must be a file upload (multipart) or base64 (JSON)")
    if value.content_type not in NEUTRAL_TYPES and not value.content_type.startswith(
        MEDIA_TYPES[name]
    ):
        accepted = [t + "*" if t.endswith("/") else t for t in MEDIA_TYPES[name]]
        raise ApiError(
            415,
            f"{name} upload has Content-Type {value.content_type!r}; send "
            f"{' or '.join(accepted)} (or application/octet-stream)",
        )
    return value.data


def _base64(name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a base64 string in JSON")
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if not header.endswith(";base64"):
            raise ApiError(400, f"{name}: only base64 data: URLs are accepted")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ApiError(400, f"{name} is not valid base64: {e}") from e


def _text(name: str, value: Any) -> str:
    if isinstance(value, JsonValue):
        value = value.value
    if isinstance(value, _RawPart):
        if value.content_type not in NEUTRAL_TYPES and not value.content_type.startswith("text/"):
            raise ApiError(
                415, f"{name} upload has Content-Type {value.content_type!r}; send text/plain"
            )
        try:
            value = value.data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ApiError(400, f"{name} is not UTF-8 text: {e}") from e
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, not {type(value).__name__}")
    return value


# -- options ------------------------------------------------------------------------------


def field_kind(field: dataclasses.Field) -> tuple[str, bool]:
    """("int" | "float" | "bool" | "str" | "tuple[float, ...]" ..., accepts None) of a
    field, from its annotation (a string under PEP 563)."""
    parts = [p.strip() for p in str(field.type).split("|")]
    base = next((p for p in parts if p != "None"), "str")
    return base, "None" in parts


def option_value(field: dataclasses.Field, name: str, value: Any) -> Any:
    """An option as its field's type: JSON values are checked, form and query text is
    parsed (``"3"`` -> 3, ``"true"`` -> True, ``"cat,dog"`` -> ("cat", "dog"))."""
    base, nullable = field_kind(field)
    if isinstance(value, JsonValue):
        value = value.value
    elif isinstance(value, list):
        if not base.startswith("tuple"):
            raise ApiError(400, f"option {name} is given more than once")
        value = [_element(base, name, v) for v in value]
    elif isinstance(value, _RawPart):
        raise ApiError(400, f"option {name} must be a form field, not a file")
    elif isinstance(value, str):
        value = _parse_text(base, nullable, name, value)
    return _checked(base, nullable, name, value)


def _parse_text(base: str, nullable: bool, name: str, text: str) -> Any:
    text = text.strip()
    if nullable and text.lower() in ("", "null", "none"):
        return None
    try:
        if base == "bool":
            return {
                "true": True,
                "1": True,
                "yes": True,
                "on": True,
                "false": False,
                "0": False,
                "no": False,
                "off": False,
            }[text.lower()]
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
    except (KeyError, ValueError) as e:
        raise ApiError(400, f"option {name} must be {_type_name(base)}, not {text!r}") from e
    if base.startswith("tuple"):
        items = (
            _json_object_or_list(text, name)
            if text.startswith("[")
            else [t.strip() for t in text.split(",") if t.strip()]
        )
        return [_element(base, name, item) for item in items]
    return text


def _json_object_or_list(text: str, name: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ApiError(400, f"option {name} is not a valid JSON list: {e}") from e
    if not isinstance(value, list):
        raise ApiError(400, f"option {name} must be a list")
    return value


def _element(base: str, name: str, item: Any) -> Any:
    if "float" in base and isinstance(item, str):
        try:
            return float(item)
        except ValueError as e:
            raise ApiError(400, f"option {name} must be a list of numbers, not {item!r}") from e
    return item


def _checked(base: str, nullable: bool, name: str, value: Any) -> Any:
    """The value if it has the field's type (lists become tuples); else a 400."""
    if value is None:
        if nullable:
            return None
        raise ApiError(400, f"option {name} must be {_type_name(base)}, not null")
    if base.startswith("tuple"):
        if isinstance(value, (list, tuple)) and all(_is(_item_type(base), v) for v in value):
            return tuple(value)
    elif _is(base, value):
        return value
    raise ApiError(400, f"option {name} must be {_type_name(base)}, not {value!r}")


def _item_type(base: str) -> str:
    return "float" if "float" in base else "str"


def _is(base: str, value: Any) -> bool:
    if isinstance(value, bool):  # JSON true is not the integer 1 here
        return base == "bool"
    kinds = {"int": int, "float": (int, float), "str": str}
    return base in kinds and isinstance(value, kinds[base])


def _type_name(base: str) -> str:
    if base.startswith("tuple"):
        return "a list of " + ("numbers" if "float" in base else "strings")
    return {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
    }.get(base, base)

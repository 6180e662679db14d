"""The OpenAPI 3.1 description of the API, generated from the task table.

Every task endpoint, its inputs in each accepted encoding and its options (types and
defaults read from the options dataclass) come from :data:`sensekit.core.tasks.TASKS`,
so a task added to the table is documented without a line here.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from sensekit import __version__
from sensekit.core.tasks import TaskSpec
from sensekit.serve.inputs import MEDIA_INPUTS, field_kind
from sensekit.serve.runner import STREAMING

_SCALARS = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}
_ERRORS = {
    "400": "bad input: the sensekit message says what and why",
    "413": "the body is over --max-upload-mb",
    "415": "a Content-Type the endpoint does not take",
    "500": "a server failure; the message has the id under which it is logged",
    "503": "busy: the queue is full; see Retry-After",
    "504": "the request took longer than --timeout",
}


def option_schema(field: dataclasses.Field) -> dict[str, Any]:
    """JSON schema of one options field (type, null allowed, default)."""
    base, nullable = field_kind(field)
    if base.startswith("tuple"):
        schema: dict[str, Any] = {
            "type": "array",
            "items": {"type": "number" if "float" in base else "string"},
        }
    else:
        schema = {"type": _SCALARS.get(base, "string")}
    if nullable:
        schema["type"] = [schema["type"], "null"]
    default = field.default
    if default is not dataclasses.MISSING:
        schema["default"] = list(default) if isinstance(default, tuple) else default
    return schema


def options_schemas(spec: TaskSpec) -> dict[str, dict[str, Any]]:
    """JSON schema of each option, described by the options class's docstring."""
    described = field_docs(spec.options_class())
    schemas = {}
    for name, field in spec.option_fields().items():
        schemas[name] = option_schema(field)
        if name in described:
            schemas[name]["description"] = described[name]
    return schemas


def field_docs(cls: type | None) -> dict[str, str]:
    """``name: text`` entries of a Google-style docstring's ``Attributes:`` section
    (continuation lines joined)."""
    lines = inspect.getdoc(cls).splitlines() if cls is not None and cls.__doc__ else []
    docs: dict[str, str] = {}
    inside, current = False, None
    for line in lines:
        if line.strip() == "Attributes:":
            inside = True
        elif inside and line.startswith("    ") and not line.startswith("     ") and ":" in line:
            current, _, text = line.strip().partition(":")
            docs[current] = text.strip()
        elif inside and line.startswith("     ") and current:
            docs[current] += " " + line.strip()
        elif inside and line.strip():
            inside = False
    return docs


def _input_schema(name: str, encoding: str) -> dict[str, Any]:
    if name in MEDIA_INPUTS:
        if encoding == "json":
            return {
                "type": "string",
                "contentEncoding": "base64",
                "description": f"the {name} file, base64 (a data: URL works too)",
            }
        return {"type": "string", "format": "binary", "description": f"the {name} file"}
    if name == "text" and encoding == "json":
        return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {"type": "string"}


def _body(spec: TaskSpec) -> dict[str, Any]:
    options = options_schemas(spec)
    content = {}
    for mime, encoding in (("multipart/form-data", "form"), ("application/json", "json")):
        properties = {name: _input_schema(name, encoding) for name in spec.inputs}
        properties.update(options)
        content[mime] = {
            "schema": {"type": "object", "required": list(spec.inputs), "properties": properties}
        }
    if len(spec.inputs) == 1 and spec.inputs[0] in MEDIA_INPUTS:
        content[f"{spec.inputs[0]}/*"] = {"schema": {"type": "string", "format": "binary"}}
    if spec.inputs == ("text",):
        content["text/plain"] = {"schema": {"type": "string"}}
    return {"required": True, "content": content}


def _operation(spec: TaskSpec, secured: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": f"the result of {spec.name}: to_dict() of the task's result",
            "content": {"application/json": {}},
        }
    }
    parameters = []
    if spec.name in STREAMING:
        responses["200"]["content"]["application/x-ndjson"] = {
            "schema": {
                "description": 'with stream=true: one {"type": "segment"} line per '
                'decoded segment, then {"type": "done"}'
            }
        }
        parameters.append(
            {
                "name": "stream",
                "in": "query",
                "schema": {"type": "boolean"},
                "description": "send segments as they are decoded (NDJSON)",
            }
        )
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": "an option may also be a query parameter",
        }
        for name, schema in options_schemas(spec).items()
    ]
    for status, text in _ERRORS.items():
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if secured:
        responses["401"] = {"description": "missing or wrong Bearer token"}
    operation = {
        "summary": spec.summary,
        "operationId": spec.name.replace("-", "_"),
        "tags": [spec.domain],
        "parameters": parameters,
        "requestBody": _body(spec),
        "responses": responses,
    }
    if secured:
        operation["security"] = [{"bearer": []}]
    return operation


def _get(summary: str, secured: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "JSON"}}}
    if secured:
        operation["security"] = [{"bearer": []}]
    return {"get": operation}


def build_openapi(specs: dict[str, TaskSpec], secured: bool) -> dict[str, Any]:
    """The OpenAPI document of a server serving ``specs``."""
    paths: dict[str, Any] = {
        "/health": _get("liveness, load and whether a token is required", False),
        "/v1/models": _get(
            "the served tasks (inputs, options, model) and every model "
            "package built on this machine with its manifest",
            secured,
        ),
    }
    for name, spec in specs.items():
        paths[f"/v1/{name}"] = {"post": _operation(spec, secured)}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "sensekit",
            "version": __version__,
            "description": "On-device models over a local HTTP API.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                                "id": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document

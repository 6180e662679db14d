"""The Starlette application: task endpoints from the table, models, health, docs, page.

Requests pass a guard first (:class:`Guard`): the Host header must name this machine
when the server listens on loopback (a DNS-rebinding page cannot reach it), a browser
request from another origin is refused (no cross-site form posts), and with a token
every ``/v1`` request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sensekit.serve.config import ServeConfig, is_loopback
from sensekit.serve.errors import ApiError, from_exception
from sensekit.serve.inputs import parse_call
from sensekit.serve.openapi import build_openapi, options_schemas
from sensekit.serve.runner import STREAMING, TaskPool

STATIC = Path(__file__).with_name("static")
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", _PAGE_POLICY.encode()),
]
_OPEN_PATHS = ("/", "/health", "/docs", "/openapi.json")  # and /static/: no secrets


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class Guard:
    """ASGI middleware: Host and Origin checks, the Bearer token, security headers."""

    def __init__(self, app: Any, config: ServeConfig) -> None:
        self.app = app
        self.token = config.token
        self.hosts = (
            {"127.0.0.1", "localhost", "::1", config.host.strip("[]").lower()}
            if is_loopback(config.host)
            else None
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def check(self, scope: dict) -> ApiError | None:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return ApiError(
                403,
                f"Host {host!r} is not this machine; a server on loopback "
                f"answers only to 127.0.0.1 or localhost",
            )
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return ApiError(403, f"cross-origin requests from {origin} are refused")
        path = scope.get("path", "")
        if self.token and not (path in _OPEN_PATHS or path.startswith("/static/")):
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                what = "wrong" if given else "missing"
                return ApiError(
                    401,
                    f"{what} token: send 'Authorization: Bearer <token>' (sensekit serve --token)",
                    headers={"WWW-Authenticate": 'Bearer realm="sensekit"'},
                )
        return None


def _hostname(host: str) -> str:
    """ "127.0.0.1:8000" -> "127.0.0.1"; "[::1]:8000" -> "::1"."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()


def create_app(config: ServeConfig, pool: TaskPool) -> Starlette:
    """The application serving ``pool``'s tasks (already loaded)."""
    api = _Api(config, pool)
    routes = [
        Route("/", api.page, methods=["GET"]),
        Route("/docs", api.docs, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    routes += [
        Route(f"/v1/{name}", api.endpoint(name), methods=["POST"], name=name) for name in pool.specs
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool.close()

    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error}, lifespan=lifespan
    )
    app.add_middleware(Guard, config=config)
    return app


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"no endpoint {request.url.path}; see /docs"
    else:
        message = str(error.detail)
    return error_response(ApiError(error.status_code, message, headers=error.headers))


class _Api:
    """The endpoints; one instance per app."""

    def __init__(self, config: ServeConfig, pool: TaskPool) -> None:
        self.config = config
        self.pool = pool
        self._models: dict[str, Any] | None = None

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def docs(self, request: Request) -> Response:
        return FileResponse(STATIC / "docs.html")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(build_openapi(self.pool.specs, bool(self.config.token)))

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "auth": bool(self.config.token),
                "busy": self.pool.admitted,
                "capacity": self.config.capacity,
                "workers": self.config.workers,
            }
        )

    async def models(self, request: Request) -> Response:
        if self._models is None:  # reads every manifest once, off the event loop
            self._models = await run_in_threadpool(describe_models, self.config, self.pool)
        return JSONResponse(self._models)

    def endpoint(self, name: str) -> Any:
        async def run_task(request: Request) -> Response:
            return await self.run_task(request, name)

        run_task.__name__ = f"run_{name.replace('-', '_')}"
        return run_task

    async def _read(self, request: Request, name: str) -> Any:
        """The request's inputs and options; a client too slow to send them (holding an
        admitted slot) is answered 408 after --timeout."""
        try:
            return await asyncio.wait_for(
                parse_call(request, self.pool.specs[name], self.config.max_upload_bytes),
                self.config.timeout,
            )
        except TimeoutError:
            raise ApiError(
                408, f"the request body did not arrive within {self.config.timeout:g} s"
            ) from None

    async def run_task(self, request: Request, name: str) -> Response:
        stream = request.query_params.get("stream", "").lower() in ("1", "true", "yes")
        try:
            if stream and name not in STREAMING:
                raise ApiError(
                    400, f"/v1/{name} does not stream; streaming tasks: {', '.join(STREAMING)}"
                )
            with self.pool.admit() as slot:
                call = await self._read(request, name)
                if stream:
                    records = await self.pool.stream(name, call, slot)
                    return StreamingResponse(_ndjson(records), media_type="application/x-ndjson")
                result = await self.pool.run(name, call, slot)
            return JSONResponse(result)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception as e:
            return error_response(from_exception(e, f"/v1/{name}"))


async def _ndjson(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for record in records:
        yield (json.dumps(record, ensure_ascii=False) + "\n").encode()


def describe_models(config: ServeConfig, pool: TaskPool) -> dict[str, Any]:
    """What ``GET /v1/models`` answers: the served tasks and every built model."""
    from sensekit.core import registry
    from sensekit.core.package import ModelPackage
    from sensekit.vision.draw import SKELETON

    tasks = {
        name: {
            "endpoint": f"/v1/{name}",
            "model": config.models[name],
            "domain": spec.domain,
            "summary": spec.summary,
            "inputs": list(spec.inputs),
            "options": options_schemas(spec),
            "streaming": name in STREAMING,
        }
        for name, spec in pool.specs.items()
    }
    models: dict[str, Any] = {}
    for model in config.models.values():  # an ensemble ("a+b") is listed with its members
        if len(registry.members(model)) > 1:
            models[model] = {"built": registry.is_built(model), "members": registry.members(model)}
    for name in registry.available():
        built = registry.is_built(name)
        models[name] = {"built": built}
        if built:
            models[name]["manifest"] = ModelPackage.open(
                registry.package_path(name), verify=False
            ).manifest.to_dict()
    return {"tasks": tasks, "models": models, "skeleton": [list(pair) for pair in SKELETON]}

"""What ``sensekit serve`` runs with, checked once before anything binds a port.

Kept free of the web stack so that the CLI can refuse an unsafe configuration (a public
address without a token) before importing or starting anything.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from sensekit.core.errors import InvalidInput

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 25.0  # a 13 min 16 kHz 16-bit wav, or any photo
DEFAULT_TIMEOUT_S = 120.0  # a long transcription on two cores still fits
DEFAULT_QUEUE = 32  # requests waiting for a worker before 503
LOOPBACK_NAMES = ("localhost",)


def default_workers() -> int:
    """One worker per core: each task already runs ONNX Runtime's own threads, so more
    workers than cores only time-slice the same cores."""
    return max(1, os.cpu_count() or 1)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; a name or a wildcard is not loopback."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server.

    Attributes:
        host: address to bind; anything but loopback needs ``token`` or ``insecure``.
        port: TCP port (0 picks a free one).
        models: task name -> model (zoo name or package path) of each served task.
        token: the Bearer token every /v1 request must carry, or None.
        insecure: allow a non-loopback ``host`` without a token (explicit opt-out).
        workers: threads that run tasks (the bounded pool).
        max_upload_mb: largest request body accepted, in MiB.
        timeout: seconds a request may take before it is answered 504.
        queue: requests allowed to wait for a worker; more are answered 503.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    models: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    insecure: bool = False
    workers: int = field(default_factory=default_workers)
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    timeout: float = DEFAULT_TIMEOUT_S
    queue: int = DEFAULT_QUEUE

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token and not self.insecure:
            raise InvalidInput(
                f"--host {self.host} is reachable from other machines: pass --token T (clients "
                f"send 'Authorization: Bearer T') or --insecure to serve without one"
            )
        if self.token is not None and (
            len(self.token) < 8 or not self.token.isprintable() or " " in self.token
        ):
            raise InvalidInput("--token must be at least 8 printable characters without spaces")
        if not 0 <= self.port <= 65535:
            raise InvalidInput(f"--port must be in 0..65535, not {self.port}")
        if self.workers < 1:
            raise InvalidInput(f"--workers must be at least 1, not {self.workers}")
        if self.queue < 0:
            raise InvalidInput(f"--queue must be 0 or more, not {self.queue}")
        if not self.max_upload_mb > 0:
            raise InvalidInput(f"--max-upload-mb must be positive, not {self.max_upload_mb}")
        if not self.timeout > 0:
            raise InvalidInput(f"--timeout must be positive, not {self.timeout}")
        if not self.models:
            raise InvalidInput("no task to serve")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def capacity(self) -> int:
        """Requests admitted at once: one running per worker plus the waiting queue."""
        return self.workers + self.queue


def parse_models(text: str | None) -> dict[str, str]:
    """``"classify,transcribe=whisper-base"`` -> task -> model; None serves every task.

    Raises:
        InvalidInput: an unknown task name (the message lists the known ones).
    """
    from sensekit.core.tasks import TASKS, task

    if not text:
        return {name: spec.default_model for name, spec in TASKS.items()}
    models = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, model = item.partition("=")
        models[name.strip()] = model.strip() or task(name.strip()).default_model
    if not models:
        raise InvalidInput("--models names no task")
    return models


def built_models() -> dict[str, str]:
    """Every task whose default model is already built: a plain ``sensekit serve`` starts
    in seconds and never begins a long build (``--models`` names tasks to build for).

    Raises:
        InvalidInput: no default model is built at all.
    """
    from sensekit.core import registry

    every = parse_models(None)
    built = {name: model for name, model in every.items() if registry.is_built(model)}
    if not built:
        raise InvalidInput(
            "no model is built yet: run 'sensekit models build --all', or "
            "name tasks with --models to build their models first"
        )
    return built

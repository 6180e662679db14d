"""HTTP errors of the API: a status, the message the client sees, and extra headers."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sensekit.core.errors import InvalidInput, ModelNotFound, SensekitError

log = logging.getLogger("sensekit.serve")

_KINDS = {
    400: "InvalidInput",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    500: "InternalError",
    503: "Busy",
    504: "Timeout",
}


class ApiError(Exception):
    """An answer other than 200: ``status`` with ``message`` as JSON.

    Attributes:
        status: the HTTP status.
        message: what the client is told (sensekit's message for bad input).
        headers: extra response headers (Retry-After, WWW-Authenticate).
        kind: a short machine-readable name ("InvalidInput", "Busy", ...).
        error_id: for a 5xx, the id under which the server logged the details.
    """

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        kind: str = "",
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.kind = kind or _KINDS.get(status, "Error")
        self.error_id = error_id

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "type": self.kind, "message": self.message}
        if self.error_id:
            error["id"] = self.error_id
        return {"error": error}


def from_exception(error: BaseException, where: str) -> ApiError:
    """The answer to an exception raised while serving ``where``.

    The caller's mistakes (:class:`InvalidInput`) answer 400 with sensekit's message.
    Anything else answers 500 with only an id; the traceback goes to the server's log
    under that id, never to the client.
    """
    if isinstance(error, ApiError):
        return error
    if isinstance(error, InvalidInput):
        return ApiError(400, str(error), kind="InvalidInput")
    if isinstance(error, ModelNotFound):
        return ApiError(404, str(error), kind="ModelNotFound")
    return server_error(500, error, where)


def server_error(status: int, error: BaseException | str, where: str) -> ApiError:
    """Logs a server-side failure under a new id (with the traceback of an exception) and
    returns the 5xx answer that names the id."""
    error_id = uuid.uuid4().hex[:12]
    if isinstance(error, BaseException):
        log.error(
            "error %s in %s: %r",
            error_id,
            where,
            error,
            exc_info=(type(error), error, error.__traceback__),
        )
        kind = type(error).__name__ if isinstance(error, SensekitError) else ""
        message = f"internal error {error_id}; the server log has the details"
    else:
        log.error("error %s in %s: %s", error_id, where, error)
        kind, message = "", f"{error} (error {error_id})"
    return ApiError(status, message, kind=kind, error_id=error_id)

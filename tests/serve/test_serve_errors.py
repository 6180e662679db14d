"""Which answer an exception becomes: the caller's mistakes a 4xx with sensekit's
message, anything else a 500 whose id names the logged traceback."""

from __future__ import annotations

import logging

from sensekit.core.errors import InvalidInput, ModelNotFound, RuntimeFailure
from sensekit.serve.errors import ApiError, from_exception


def test_invalid_input_is_400_with_the_message():
    error = from_exception(InvalidInput("Image file not found: x.png"), "/v1/classify")
    assert (error.status, error.message, error.kind) == (
        400,
        "Image file not found: x.png",
        "InvalidInput",
    )
    assert error.body() == {
        "error": {"status": 400, "type": "InvalidInput", "message": "Image file not found: x.png"}
    }
    assert from_exception(ModelNotFound("nope", ["yamnet"]), "x").status == 404
    busy = ApiError(503, "busy", headers={"Retry-After": "3"})
    assert from_exception(busy, "x") is busy


def test_other_failures_are_500_with_an_id_and_a_logged_traceback(caplog):
    def fail() -> None:
        raise ZeroDivisionError("secret detail")

    try:
        fail()
    except ZeroDivisionError as e:
        with caplog.at_level(logging.ERROR, logger="sensekit.serve"):
            error = from_exception(e, "/v1/detect")
    assert error.status == 500 and error.error_id and len(error.error_id) == 12
    assert "secret detail" not in error.message and error.error_id in error.message
    assert error.body()["error"]["id"] == error.error_id
    record = caplog.records[-1]
    assert error.error_id in record.getMessage() and "/v1/detect" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError  # traceback logged
    runtime = from_exception(RuntimeFailure("graph failed"), "x")
    assert runtime.status == 500 and runtime.kind == "RuntimeFailure"

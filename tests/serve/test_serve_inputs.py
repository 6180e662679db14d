"""Request values -> task options, and the admission bound, without a server."""

from __future__ import annotations

import pytest

from sensekit.core.tasks import TASKS
from sensekit.serve.config import ServeConfig
from sensekit.serve.errors import ApiError
from sensekit.serve.inputs import JsonValue, option_value
from sensekit.serve.runner import TaskPool


def field(task: str, name: str):
    return TASKS[task].option_fields()[name]


@pytest.mark.parametrize(
    "task, name, text, value",
    [
        ("classify", "top_k", "3", 3),
        ("classify", "score_threshold", "0.25", 0.25),
        ("classify", "bgr", "true", True),
        ("classify", "bgr", "0", False),
        ("classify", "allow", "tabby, tiger cat", ("tabby", "tiger cat")),
        ("classify", "allow", '["a, b", "c"]', ("a, b", "c")),
        ("classify", "allow", "", None),
        ("classify", "region_of_interest", "0.1,0.2,0.5,0.5", (0.1, 0.2, 0.5, 0.5)),
        ("transcribe", "language", "null", None),
        ("transcribe", "language", "en", "en"),
        ("transcribe", "temperature", "0,0.4", (0.0, 0.4)),
    ],
)
def test_form_text_becomes_the_field_type(task, name, text, value):
    assert option_value(field(task, name), name, text) == value


def test_repeated_form_fields_fill_a_list_option():
    assert option_value(field("detect", "deny"), "deny", ["cat", "dog"]) == ("cat", "dog")
    with pytest.raises(ApiError, match="given more than once"):
        option_value(field("detect", "max_results"), "max_results", ["1", "2"])


@pytest.mark.parametrize(
    "task, name, value, message",
    [
        ("classify", "top_k", "many", "must be an integer, not 'many'"),
        ("classify", "bgr", "maybe", "must be true or false"),
        ("classify", "score_threshold", "high", "must be a number"),
        ("classify", "region_of_interest", "a,b,c,d", "list of numbers"),
        ("classify", "allow", "[1, 2", "not a valid JSON list"),
        ("classify", "top_k", JsonValue(True), "must be an integer, not True"),
        ("classify", "top_k", JsonValue(2.5), "must be an integer"),
        ("classify", "top_k", JsonValue(None), "not null"),
        ("classify", "allow", JsonValue([1]), "list of strings"),
        ("answer", "handle_impossible", JsonValue(1), "true or false"),
    ],
)
def test_badly_typed_options_are_400(task, name, value, message):
    with pytest.raises(ApiError, match=message) as error:
        option_value(field(task, name), name, value)
    assert error.value.status == 400


def test_json_values_keep_their_type():
    assert option_value(field("classify", "score_threshold"), "s", JsonValue(1)) == 1
    assert option_value(field("classify", "allow"), "allow", JsonValue(["cat"])) == ("cat",)
    assert option_value(field("transcribe", "initial_prompt"), "p", JsonValue(None)) is None


def test_admission_is_bounded_and_retry_after_is_estimated():
    pool = TaskPool(ServeConfig(models={"classify": "efficientnet-lite0"}, workers=2, queue=1))
    try:
        slots = [pool.admit() for _ in range(3)]
        with pytest.raises(ApiError) as busy:
            pool.admit()
        assert busy.value.status == 503 and int(busy.value.headers["Retry-After"]) >= 1
        for seconds in (4.0, 5.0, 6.0):
            pool._record(seconds)
        assert pool.retry_after() == 5  # median 5 s x 2 waiting / 2 workers
        slots[0].release()
        slots[0].release()  # a slot is given back once
        assert pool.admitted == 2
        with pool.admit():
            assert pool.admitted == 3
        assert pool.admitted == 2
    finally:
        pool.close()

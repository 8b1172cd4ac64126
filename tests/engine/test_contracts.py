"""Bad input is refused by the contracts, in the caller's process, before anything is started."""

from __future__ import annotations

from typing import Any

import pytest

from threadloom.starter import errors
from threadloom.starter.api import validate_request
from threadloom.workflows.contracts import MAX_MESSAGE_CHARS, ErrorType, TurnRequest


def request(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"thread_id": "thread_1", "assistant_id": "asst_1", "message": {"text": "hi"}}
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"message": {"text": ""}}, "message.text"),
        ({"message": {"text": "x" * (MAX_MESSAGE_CHARS + 1)}}, "message.text"),
        ({"message": {"text": "hi", "metadata": {f"k{i}": "v" for i in range(16)}}}, "metadata"),
        ({"message": {"text": "hi", "metadata": {"threadloom_turn": "x"}}}, "metadata"),
        ({"run": {"metadata": {f"k{i}": "v" for i in range(15)}}}, "run.metadata"),
        ({"run": {"max_completion_tokens": 100}}, "run.max_completion_tokens"),
        ({"run": {"max_prompt_tokens": 255}}, "run.max_prompt_tokens"),
        ({"run": {"tools": [{"type": "function"}] * 21}}, "run.tools"),
        ({"run": {"temperature": 3}}, "run.temperature"),
        ({"thread_id": ""}, "thread_id"),
        ({"turn_key": "has spaces"}, "turn_key"),
        ({"policy": {"max_run_attempts": 0}}, "policy.max_run_attempts"),
    ],
)
def test_bad_requests_are_invalid_request(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=named.replace(".", r"\.")):
        validate_request(request(**changes))


def test_a_good_request_keeps_its_turn_key_and_summarises_its_message() -> None:
    turn = validate_request(request(message={"text": "one two three four five six seven eight nine"}))
    assert validate_request(turn) == turn
    assert turn.workflow_id == f"turn-thread_1-{turn.turn_key}"
    assert turn.summary() == "one two three four five six seven eight …"


def test_the_starter_refuses_unknown_fields_and_a_worker_ignores_them() -> None:
    with pytest.raises(errors.InvalidRequest, match=r"unknown field.*mesage"):
        validate_request(request(mesage={"text": "typo"}))
    with pytest.raises(errors.InvalidRequest, match=r"policy.poll.*unknown field.*hold_ms"):
        validate_request(request(policy={"poll": {"hold_ms": 5}}))
    # What a worker decodes: a field from a newer starter it does not know yet is left out.
    decoded = TurnRequest.model_validate(request(policy={"poll": {"hold_ms": 5}}))
    assert decoded.policy.poll == TurnRequest.model_validate(request()).policy.poll


def test_every_failure_type_has_its_exception() -> None:
    for error_type in ErrorType:
        cls = errors.ERRORS_BY_TYPE[error_type]
        assert issubclass(cls, errors.TurnError) and cls.__name__ == error_type

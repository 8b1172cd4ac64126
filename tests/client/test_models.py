"""The models read the spec's wire format faithfully and tolerate what they do not know."""

from __future__ import annotations

from threadloom.threads_client import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Assistant,
    CodeInterpreterLogsOutput,
    CodeInterpreterToolCall,
    DeletionStatus,
    FileCitationAnnotation,
    FilePathAnnotation,
    FileSearchToolCall,
    FunctionTool,
    FunctionToolCall,
    ImageFileContent,
    ImageURLContent,
    Message,
    NamedToolChoice,
    RefusalContent,
    ResponseFormatJSONSchema,
    Run,
    RunStep,
    TextContent,
    ToolCallsStepDetails,
    UnknownObject,
)

from .fake_api import message_object, run_object


def test_run_with_required_action_and_every_nested_object() -> None:
    run = Run.model_validate(
        run_object(
            "run_1",
            "thread_1",
            "requires_action",
            required_action={
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a": 1}'},
                        }
                    ]
                },
            },
            tools=[
                {"type": "code_interpreter"},
                {"type": "file_search", "file_search": {"max_num_results": 5}},
                {"type": "function", "function": {"name": "add", "parameters": {}, "strict": None}},
            ],
            tool_choice={"type": "function", "function": {"name": "add"}},
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
            },
            truncation_strategy={"type": "last_messages", "last_messages": 10},
        )
    )

    assert run.status in ACTIVE_RUN_STATUSES
    assert not run.is_terminal
    assert [(c.id, c.function.name, c.function.arguments) for c in run.tool_calls] == [
        ("call_1", "add", '{"a": 1}')
    ]
    assert isinstance(run.tools[2], FunctionTool)
    assert run.tools[2].function.name == "add"
    assert isinstance(run.tool_choice, NamedToolChoice)
    assert isinstance(run.response_format, ResponseFormatJSONSchema)
    assert run.response_format.json_schema.schema_ == {"type": "object"}
    assert run.model_dump(by_alias=True)["response_format"]["json_schema"]["schema"] == {
        "type": "object"
    }
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.last_messages == 10


def test_terminal_run_fields() -> None:
    failed = Run.model_validate(
        run_object(
            "run_1",
            "thread_1",
            "failed",
            last_error={"code": "server_error", "message": "Run interrupted by a server restart."},
            expires_at=None,
            failed_at=1_700_000_010,
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        )
    )
    incomplete = Run.model_validate(
        run_object(
            "run_2",
            "thread_1",
            "incomplete",
            incomplete_details={"reason": "max_prompt_tokens"},
            response_format={"type": "text"},
            tool_choice="required",
        )
    )

    assert failed.is_terminal and failed.status in TERMINAL_RUN_STATUSES
    assert failed.last_error is not None and failed.last_error.code == "server_error"
    assert failed.usage is not None and failed.usage.total_tokens == 15
    assert failed.tool_calls == []
    assert incomplete.incomplete_details is not None
    assert incomplete.incomplete_details.reason == "max_prompt_tokens"
    assert incomplete.tool_choice == "required"
    assert ACTIVE_RUN_STATUSES.isdisjoint(TERMINAL_RUN_STATUSES)


def test_unknown_fields_and_types_are_tolerated() -> None:
    run = Run.model_validate(
        run_object(
            "run_1",
            "thread_1",
            "completed",
            tools=[{"type": "web_browser", "browser": {"x": 1}}],
            reasoning_effort="low",
        )
    )
    message = Message.model_validate(
        message_object(
            "msg_1",
            "thread_1",
            "hi",
            content=[{"type": "audio", "audio": {"id": "a"}}],
            brand_new_field=True,
        )
    )

    assert isinstance(run.tools[0], UnknownObject)
    assert run.tools[0].type == "web_browser"
    assert run.model_extra == {"reasoning_effort": "low"}
    assert isinstance(message.content[0], UnknownObject)
    assert message.text == ""
    assert message.model_extra == {"brand_new_field": True}


def test_message_content_parts_and_text() -> None:
    message = Message.model_validate(
        message_object(
            "msg_1",
            "thread_1",
            "",
            role="assistant",
            run_id="run_1",
            assistant_id="asst_1",
            content=[
                {
                    "type": "text",
                    "text": {
                        "value": "See 【0†doc】 and file.",
                        "annotations": [
                            {
                                "type": "file_citation",
                                "text": "【0†doc】",
                                "file_citation": {"file_id": "file_1"},
                                "start_index": 4,
                                "end_index": 11,
                            },
                            {
                                "type": "file_path",
                                "text": "file",
                                "file_path": {"file_id": "file_2"},
                                "start_index": 16,
                                "end_index": 20,
                            },
                        ],
                    },
                },
                {"type": "image_file", "image_file": {"file_id": "file_3", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "refusal", "refusal": "I can't."},
                {"type": "text", "text": {"value": "Second part.", "annotations": []}},
            ],
            attachments=[{"file_id": "file_4", "tools": [{"type": "file_search"}]}],
        )
    )

    expected: list[type] = [TextContent, ImageFileContent, ImageURLContent, RefusalContent, TextContent]
    assert [type(part) for part in message.content] == expected
    first = message.content[0]
    assert isinstance(first, TextContent)
    assert isinstance(first.text.annotations[0], FileCitationAnnotation)
    assert isinstance(first.text.annotations[1], FilePathAnnotation)
    assert message.text == "See 【0†doc】 and file.\nSecond part."
    assert message.run_id == "run_1"
    assert message.attachments is not None and message.attachments[0].file_id == "file_4"


def test_run_step_with_tool_call_details() -> None:
    step = RunStep.model_validate(
        {
            "id": "step_1",
            "object": "thread.run.step",
            "created_at": 1,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": "tool_calls",
            "status": "completed",
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "code_interpreter",
                        "code_interpreter": {
                            "input": "print(1)",
                            "outputs": [{"type": "logs", "logs": "1"}],
                        },
                    },
                    {"id": "call_2", "type": "file_search", "file_search": {"results": []}},
                    {
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "add", "arguments": "{}", "output": "3"},
                    },
                ],
            },
            "last_error": None,
            "expired_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": 2,
            "metadata": None,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )

    details = step.step_details
    assert isinstance(details, ToolCallsStepDetails)
    calls = details.tool_calls
    assert [type(call) for call in calls] == [
        CodeInterpreterToolCall,
        FileSearchToolCall,
        FunctionToolCall,
    ]
    code = calls[0]
    assert isinstance(code, CodeInterpreterToolCall) and code.code_interpreter is not None
    assert code.code_interpreter.outputs is not None
    assert isinstance(code.code_interpreter.outputs[0], CodeInterpreterLogsOutput)
    function = calls[2]
    assert isinstance(function, FunctionToolCall) and function.function is not None
    assert function.function.output == "3"


def test_assistant_and_deletion_status() -> None:
    assistant = Assistant.model_validate(
        {
            "id": "asst_1",
            "object": "assistant",
            "created_at": 1,
            "name": None,
            "description": None,
            "model": "echo",
            "instructions": None,
            "tools": [{"type": "function", "function": {"name": "add"}}],
            "metadata": {"fault": "stall"},
            "response_format": "auto",
        }
    )
    deleted = DeletionStatus.model_validate(
        {"id": "thread_1", "object": "thread.deleted", "deleted": True}
    )

    assert assistant.model == "echo"
    assert assistant.response_format == "auto"
    assert assistant.metadata == {"fault": "stall"}
    assert deleted.deleted is True

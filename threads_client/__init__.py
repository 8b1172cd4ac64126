"""Async Python client for the Threads API (OpenAI Assistants v2 wire format).

    from threadloom.threads_client import ThreadsClient

    async with ThreadsClient("http://127.0.0.1:8700/v1", api_key=None) as client:
        thread = await client.threads.create()
        await client.threads.messages.create(thread.id, content="Hello")
        run = await client.threads.runs.create(thread.id, assistant_id=assistant_id)
        run = await client.threads.runs.poll(thread.id, run.id, timeout=60)
        async for message in client.threads.messages.list(thread.id, run_id=run.id, order="asc"):
            print(message.text)

Errors (all in ``threads_client.errors`` and re-exported here)::

    ThreadsError
    ├── APIConnectionError           could not connect / connection dropped
    │   └── APITimeoutError
    ├── APIStatusError               .status_code .message .type .param .code
    │   │                            .response_headers .request_id .retry_after
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError           429
    │   └── InternalServerError      5xx
    └── PollTimeoutError             .run (the last state seen)
"""

from __future__ import annotations

from threadloom.threads_client._client import DEFAULT_BASE_URL, ThreadsClient
from threadloom.threads_client._models import (
    APIModel,
    Assistant,
    AssistantTool,
    CodeInterpreterResources,
    CodeInterpreterTool,
    DeletionStatus,
    ErrorObject,
    FileSearchOptions,
    FileSearchRankingOptions,
    FileSearchResources,
    FileSearchTool,
    FunctionDefinition,
    FunctionTool,
    JSONSchemaFormat,
    Metadata,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    ResponseFormatText,
    Thread,
    ToolResources,
    UnknownObject,
    Usage,
)
from threadloom.threads_client._models_files import (
    FileCounts,
    FileObject,
    VectorStore,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreSearchContent,
    VectorStoreSearchPage,
    VectorStoreSearchResult,
)
from threadloom.threads_client._models_message import (
    Attachment,
    FileCitation,
    FileCitationAnnotation,
    FilePath,
    FilePathAnnotation,
    ImageFile,
    ImageFileContent,
    ImageFileDeltaContent,
    ImageURL,
    ImageURLContent,
    ImageURLDeltaContent,
    Message,
    MessageContent,
    MessageDelta,
    MessageDeltaBody,
    MessageDeltaContent,
    MessageIncompleteDetails,
    RefusalContent,
    RefusalDeltaContent,
    Text,
    TextAnnotation,
    TextContent,
    TextDelta,
    TextDeltaContent,
)
from threadloom.threads_client._models_run import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    FunctionCall,
    IncompleteDetails,
    LastError,
    NamedToolChoice,
    RequiredAction,
    RequiredActionToolCall,
    Run,
    RunPoll,
    RunStatus,
    SubmitToolOutputs,
    ToolChoice,
    TruncationStrategy,
)
from threadloom.threads_client._models_step import (
    CodeInterpreterCall,
    CodeInterpreterImageOutput,
    CodeInterpreterLogsOutput,
    CodeInterpreterToolCall,
    FileSearchToolCall,
    FunctionToolCall,
    FunctionToolCallDetails,
    MessageCreation,
    MessageCreationStepDetails,
    RunStep,
    RunStepDelta,
    RunStepDeltaBody,
    RunStepLastError,
    StepDetails,
    ToolCall,
    ToolCallsStepDetails,
)
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._polling import STOP_POLLING_STATUSES
from threadloom.threads_client._streaming import StreamEvent
from threadloom.threads_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PollTimeoutError,
    RateLimitError,
    ThreadsError,
    UnprocessableEntityError,
)

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "DEFAULT_BASE_URL",
    "STOP_POLLING_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "APIConnectionError",
    "APIModel",
    "APIStatusError",
    "APITimeoutError",
    "Assistant",
    "AssistantTool",
    "AsyncPage",
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "CodeInterpreterCall",
    "CodeInterpreterImageOutput",
    "CodeInterpreterLogsOutput",
    "CodeInterpreterResources",
    "CodeInterpreterTool",
    "CodeInterpreterToolCall",
    "ConflictError",
    "DeletionStatus",
    "ErrorObject",
    "FileCitation",
    "FileCitationAnnotation",
    "FileCounts",
    "FileObject",
    "FilePath",
    "FilePathAnnotation",
    "FileSearchOptions",
    "FileSearchRankingOptions",
    "FileSearchResources",
    "FileSearchTool",
    "FileSearchToolCall",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionTool",
    "FunctionToolCall",
    "FunctionToolCallDetails",
    "ImageFile",
    "ImageFileContent",
    "ImageFileDeltaContent",
    "ImageURL",
    "ImageURLContent",
    "ImageURLDeltaContent",
    "IncompleteDetails",
    "InternalServerError",
    "JSONSchemaFormat",
    "LastError",
    "Message",
    "MessageContent",
    "MessageCreation",
    "MessageCreationStepDetails",
    "MessageDelta",
    "MessageDeltaBody",
    "MessageDeltaContent",
    "MessageIncompleteDetails",
    "Metadata",
    "NamedToolChoice",
    "NotFoundError",
    "PermissionDeniedError",
    "PollTimeoutError",
    "RateLimitError",
    "RefusalContent",
    "RefusalDeltaContent",
    "RequiredAction",
    "RequiredActionToolCall",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "Run",
    "RunPoll",
    "RunStatus",
    "RunStep",
    "RunStepDelta",
    "RunStepDeltaBody",
    "RunStepLastError",
    "StepDetails",
    "StreamEvent",
    "SubmitToolOutputs",
    "Text",
    "TextAnnotation",
    "TextContent",
    "TextDelta",
    "TextDeltaContent",
    "Thread",
    "ThreadsClient",
    "ThreadsError",
    "ToolCall",
    "ToolCallsStepDetails",
    "ToolChoice",
    "ToolResources",
    "TruncationStrategy",
    "UnknownObject",
    "UnprocessableEntityError",
    "Usage",
    "VectorStore",
    "VectorStoreFile",
    "VectorStoreFileBatch",
    "VectorStoreSearchContent",
    "VectorStoreSearchPage",
    "VectorStoreSearchResult",
]

"""Messages, their content parts and annotations, and streamed message deltas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Tag

from threadloom.threads_client._models import (
    APIModel,
    CodeInterpreterTool,
    Metadata,
    UnknownObject,
    type_discriminator,
)

__all__ = [
    "Attachment",
    "AttachmentTool",
    "FileCitation",
    "FileCitationAnnotation",
    "FilePath",
    "FilePathAnnotation",
    "ImageFile",
    "ImageFileContent",
    "ImageFileDeltaContent",
    "ImageURL",
    "ImageURLContent",
    "ImageURLDeltaContent",
    "Message",
    "MessageContent",
    "MessageDelta",
    "MessageDeltaBody",
    "MessageDeltaContent",
    "MessageIncompleteDetails",
    "RefusalContent",
    "RefusalDeltaContent",
    "Text",
    "TextAnnotation",
    "TextContent",
    "TextDelta",
    "TextDeltaContent",
]


class FileCitation(APIModel):
    """The file a citation points at."""

    file_id: str | None = None
    quote: str | None = None


class FileCitationAnnotation(APIModel):
    """A citation of a file (file search), with its place in the text."""

    type: Literal["file_citation"] = "file_citation"
    index: int | None = None
    text: str | None = None
    file_citation: FileCitation | None = None
    start_index: int | None = None
    end_index: int | None = None


class FilePath(APIModel):
    """A file the code interpreter produced."""

    file_id: str | None = None


class FilePathAnnotation(APIModel):
    """A link to a file the code interpreter produced, with its place in the text."""

    type: Literal["file_path"] = "file_path"
    index: int | None = None
    text: str | None = None
    file_path: FilePath | None = None
    start_index: int | None = None
    end_index: int | None = None


TextAnnotation = Annotated[
    Annotated[FileCitationAnnotation, Tag("file_citation")]
    | Annotated[FilePathAnnotation, Tag("file_path")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("file_citation", "file_path"),
]
"""An annotation of a text part (also used, with ``index``, in deltas)."""


class Text(APIModel):
    """The text of a text content part."""

    value: str
    annotations: list[TextAnnotation] = Field(default_factory=list)


class TextContent(APIModel):
    """A text content part."""

    type: Literal["text"] = "text"
    text: Text


class ImageFile(APIModel):
    """An uploaded image file."""

    file_id: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class ImageFileContent(APIModel):
    """An image-file content part."""

    type: Literal["image_file"] = "image_file"
    image_file: ImageFile


class ImageURL(APIModel):
    """An image given by URL."""

    url: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLContent(APIModel):
    """An image-URL content part."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


class RefusalContent(APIModel):
    """A refusal content part."""

    type: Literal["refusal"] = "refusal"
    refusal: str


MessageContent = Annotated[
    Annotated[TextContent, Tag("text")]
    | Annotated[ImageFileContent, Tag("image_file")]
    | Annotated[ImageURLContent, Tag("image_url")]
    | Annotated[RefusalContent, Tag("refusal")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("text", "image_file", "image_url", "refusal"),
]
"""A content part of a message."""


class FileSearchTypeOnlyTool(APIModel):
    """The ``file_search`` tool as an attachment target."""

    type: Literal["file_search"] = "file_search"


AttachmentTool = Annotated[
    Annotated[CodeInterpreterTool, Tag("code_interpreter")]
    | Annotated[FileSearchTypeOnlyTool, Tag("file_search")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("code_interpreter", "file_search"),
]
"""A tool an attached file is made available to."""


class Attachment(APIModel):
    """A file attached to a message and the tools it is added to."""

    file_id: str | None = None
    tools: list[AttachmentTool] = Field(default_factory=list)


class MessageIncompleteDetails(APIModel):
    """Why a message is incomplete."""

    reason: str


class Message(APIModel):
    """A message of a thread, written by the user or by the assistant during a run."""

    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"] | None = None
    incomplete_details: MessageIncompleteDetails | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None
    role: Literal["user", "assistant"]
    content: list[MessageContent] = Field(default_factory=list)
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None

    @property
    def text(self) -> str:
        """The values of the text parts joined with newlines (empty if there are none)."""
        return "\n".join(part.text.value for part in self.content if isinstance(part, TextContent))


class TextDelta(APIModel):
    """The streamed piece of a text part."""

    value: str | None = None
    annotations: list[TextAnnotation] | None = None


class TextDeltaContent(APIModel):
    """A streamed piece of the text part at ``index``."""

    index: int
    type: Literal["text"] = "text"
    text: TextDelta | None = None


class ImageFileDeltaContent(APIModel):
    """A streamed image-file part at ``index``."""

    index: int
    type: Literal["image_file"] = "image_file"
    image_file: ImageFile | None = None


class ImageURLDeltaContent(APIModel):
    """A streamed image-URL part at ``index``."""

    index: int
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL | None = None


class RefusalDeltaContent(APIModel):
    """A streamed piece of the refusal part at ``index``."""

    index: int
    type: Literal["refusal"] = "refusal"
    refusal: str | None = None


MessageDeltaContent = Annotated[
    Annotated[TextDeltaContent, Tag("text")]
    | Annotated[ImageFileDeltaContent, Tag("image_file")]
    | Annotated[ImageURLDeltaContent, Tag("image_url")]
    | Annotated[RefusalDeltaContent, Tag("refusal")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("text", "image_file", "image_url", "refusal"),
]
"""A streamed content part of a message delta."""


class MessageDeltaBody(APIModel):
    """What changed in a message."""

    role: Literal["user", "assistant"] | None = None
    content: list[MessageDeltaContent] | None = None


class MessageDelta(APIModel):
    """A ``thread.message.delta`` event: the changed fields of message ``id``."""

    id: str
    object: Literal["thread.message.delta"] = "thread.message.delta"
    delta: MessageDeltaBody

    @property
    def text(self) -> str:
        """The text pieces of this delta concatenated (empty if there are none)."""
        parts = self.delta.content or []
        return "".join(
            part.text.value or ""
            for part in parts
            if isinstance(part, TextDeltaContent) and part.text is not None
        )

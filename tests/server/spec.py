"""Validation of server responses against the spec excerpt vendored in `docs/reference`.

The excerpt is OpenAPI 3.1 with 3.0-style `nullable: true`; the reference's own `normalize_nullable.py`
rewrites it (loaded from the reference directory, not copied), `RunObject.instructions` is made
nullable, and every schema is reached through a `referencing` registry so `$ref`s resolve.
The excerpt has no assistant object; `ASSISTANT_SCHEMAS` below states OpenAI's shape, reusing the
excerpt's tool and metadata schemas.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
SPEC_URI = "urn:threadloom:assistants-v2"
LOCAL_URI = "urn:threadloom:local"

_TOOL = {
    "oneOf": [
        {"$ref": f"{SPEC_URI}#/components/schemas/AssistantToolsCode"},
        {"$ref": f"{SPEC_URI}#/components/schemas/AssistantToolsFileSearch"},
        {"$ref": f"{SPEC_URI}#/components/schemas/AssistantToolsFunction"},
    ]
}
_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_NULLABLE_NUMBER = {"anyOf": [{"type": "number"}, {"type": "null"}]}
ASSISTANT_SCHEMAS: dict[str, Any] = {
    "AssistantObject": {
        "type": "object",
        "required": [
            "id",
            "object",
            "created_at",
            "name",
            "description",
            "model",
            "instructions",
            "tools",
            "metadata",
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^asst_"},
            "object": {"const": "assistant"},
            "created_at": {"type": "integer"},
            "name": _NULLABLE_STRING,
            "description": _NULLABLE_STRING,
            "model": {"type": "string"},
            "instructions": _NULLABLE_STRING,
            "tools": {"type": "array", "maxItems": 128, "items": _TOOL},
            # An assistant's tool resources have the shape of a thread's (OpenAI's AssistantObject).
            "tool_resources": {
                "$ref": f"{SPEC_URI}#/components/schemas/ThreadObject/properties/tool_resources"
            },
            "metadata": {"$ref": f"{SPEC_URI}#/components/schemas/Metadata"},
            "temperature": _NULLABLE_NUMBER,
            "top_p": _NULLABLE_NUMBER,
            "response_format": {
                "$ref": f"{SPEC_URI}#/components/schemas/AssistantsApiResponseFormatOption"
            },
        },
    },
    "ListAssistantsResponse": {
        "type": "object",
        "required": ["object", "data", "first_id", "last_id", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": "#/AssistantObject"}},
            "has_more": {"type": "boolean"},
        },
    },
    "DeleteAssistantResponse": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"object": {"const": "assistant.deleted"}, "deleted": {"const": True}},
    },
}


def load_spec() -> dict[str, Any]:
    """The excerpt after `normalize_nullable.fix`, plus the two nullables BEHAVIOUR.md names."""
    module_spec = importlib.util.spec_from_file_location(
        "normalize_nullable", REFERENCE / "normalize_nullable.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec = yaml.safe_load((REFERENCE / "assistants-v2.openapi.yaml").read_text())
    spec["components"] = module.fix(spec["components"])
    run = spec["components"]["schemas"]["RunObject"]["properties"]
    run["instructions"] = {"anyOf": [run["instructions"], {"type": "null"}]}
    # BEHAVIOUR.md: `first_id` / `last_id` are null for an empty list.
    for name in ("ListMessagesResponse", "ListRunsResponse", "ListRunStepsResponse"):
        properties = spec["components"]["schemas"][name]["properties"]
        for key in ("first_id", "last_id"):
            properties[key] = {"anyOf": [properties[key], {"type": "null"}]}
    return spec


_ROUTES: list[tuple[str, str, str]] = [
    # (method, path regex, schema) for 2xx answers; errors are all ErrorResponse.
    ("POST", r"/threads", "ThreadObject"),
    ("POST", r"/threads/runs", "RunObject"),
    ("GET", r"/threads/[^/]+", "ThreadObject"),
    ("POST", r"/threads/[^/]+", "ThreadObject"),
    ("DELETE", r"/threads/[^/]+", "DeleteThreadResponse"),
    ("GET", r"/threads/[^/]+/messages", "ListMessagesResponse"),
    ("POST", r"/threads/[^/]+/messages", "MessageObject"),
    ("GET", r"/threads/[^/]+/messages/[^/]+", "MessageObject"),
    ("POST", r"/threads/[^/]+/messages/[^/]+", "MessageObject"),
    ("DELETE", r"/threads/[^/]+/messages/[^/]+", "DeleteMessageResponse"),
    ("GET", r"/threads/[^/]+/runs", "ListRunsResponse"),
    ("POST", r"/threads/[^/]+/runs", "RunObject"),
    ("GET", r"/threads/[^/]+/runs/[^/]+", "RunObject"),
    ("POST", r"/threads/[^/]+/runs/[^/]+", "RunObject"),
    ("POST", r"/threads/[^/]+/runs/[^/]+/cancel", "RunObject"),
    ("POST", r"/threads/[^/]+/runs/[^/]+/submit_tool_outputs", "RunObject"),
    ("GET", r"/threads/[^/]+/runs/[^/]+/steps", "ListRunStepsResponse"),
    ("GET", r"/threads/[^/]+/runs/[^/]+/steps/[^/]+", "RunStepObject"),
    ("POST", r"/assistants", "local:AssistantObject"),
    ("GET", r"/assistants", "local:ListAssistantsResponse"),
    ("GET", r"/assistants/[^/]+", "local:AssistantObject"),
    ("POST", r"/assistants/[^/]+", "local:AssistantObject"),
    ("DELETE", r"/assistants/[^/]+", "local:DeleteAssistantResponse"),
]


class SpecValidator:
    """Validates bodies by schema name and counts what it validated."""

    def __init__(self) -> None:
        spec = load_spec()
        registry = Registry().with_resources(
            [
                (SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)),
                (
                    LOCAL_URI,
                    Resource.from_contents(ASSISTANT_SCHEMAS, default_specification=DRAFT202012),
                ),
            ]
        )
        self._registry = registry
        self._validators: dict[str, Draft202012Validator] = {}
        self.counts: Counter[str] = Counter()

    def _validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            if name.startswith("local:"):
                ref = f"{LOCAL_URI}#/{name.removeprefix('local:')}"
            else:
                ref = f"{SPEC_URI}#/components/schemas/{name}"
            self._validators[name] = Draft202012Validator({"$ref": ref}, registry=self._registry)
        return self._validators[name]

    def validate(self, name: str, body: Any) -> None:
        """Raise AssertionError listing every violation of schema `name`."""
        errors = sorted(self._validator(name).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            detail = "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5])
            raise AssertionError(f"{name} violated: {detail}\n{json.dumps(body)[:1500]}")
        self.counts[name] += 1

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        """Validate an API answer by its route (path relative to `/v1`) and status."""
        if status >= 400:
            self.validate("ErrorResponse", body)
            return
        for route_method, pattern, name in _ROUTES:
            if route_method == method and re.fullmatch(pattern, path):
                self.validate(name, body)
                return
        raise AssertionError(f"no schema for {method} {path}")

    def validate_event(self, event: str, data: Any) -> None:
        """Validate one SSE event as an `AssistantStreamEvent`."""
        self.validate("AssistantStreamEvent", {"event": event, "data": data})

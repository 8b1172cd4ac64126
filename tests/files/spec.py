"""Validation of the Files and Vector Stores answers against `docs/reference/files-vector-stores…`.

The excerpt goes through the reference's own `normalize_nullable.fix` (loaded, not copied, as in
`tests/server/spec.py`); `CompoundFilter`'s 2019-09 `$recursiveRef` is read as a `$ref` to itself
(FILES-BEHAVIOUR.md), and `first_id` / `last_id` of an empty list are nullable (BEHAVIOUR.md).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.server.spec import REFERENCE

URI = "urn:threadloom:files-vector-stores"
_ID = r"[^/]+"
ROUTES: list[tuple[str, str, str | None]] = [
    ("POST", r"/files", "OpenAIFile"),
    ("GET", r"/files", "ListFilesResponse"),
    ("GET", rf"/files/{_ID}", "OpenAIFile"),
    ("DELETE", rf"/files/{_ID}", "DeleteFileResponse"),
    ("GET", rf"/files/{_ID}/content", None),  # the raw bytes
    ("POST", r"/vector_stores", "VectorStoreObject"),
    ("GET", r"/vector_stores", "ListVectorStoresResponse"),
    ("GET", rf"/vector_stores/{_ID}", "VectorStoreObject"),
    ("POST", rf"/vector_stores/{_ID}", "VectorStoreObject"),
    ("DELETE", rf"/vector_stores/{_ID}", "DeleteVectorStoreResponse"),
    ("POST", rf"/vector_stores/{_ID}/search", "VectorStoreSearchResultsPage"),
    ("POST", rf"/vector_stores/{_ID}/files", "VectorStoreFileObject"),
    ("GET", rf"/vector_stores/{_ID}/files", "ListVectorStoreFilesResponse"),
    ("GET", rf"/vector_stores/{_ID}/files/{_ID}", "VectorStoreFileObject"),
    ("POST", rf"/vector_stores/{_ID}/files/{_ID}", "VectorStoreFileObject"),
    ("DELETE", rf"/vector_stores/{_ID}/files/{_ID}", "DeleteVectorStoreFileResponse"),
    ("GET", rf"/vector_stores/{_ID}/files/{_ID}/content", "VectorStoreFileContentResponse"),
    ("POST", rf"/vector_stores/{_ID}/file_batches", "VectorStoreFileBatchObject"),
    ("GET", rf"/vector_stores/{_ID}/file_batches/{_ID}", "VectorStoreFileBatchObject"),
    ("POST", rf"/vector_stores/{_ID}/file_batches/{_ID}/cancel", "VectorStoreFileBatchObject"),
    ("GET", rf"/vector_stores/{_ID}/file_batches/{_ID}/files", "ListVectorStoreFilesResponse"),
]


def _plain_refs(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _plain_refs(value) for key, value in node.items() if key != "$recursiveAnchor"}
        if node.get("$recursiveRef") == "#":
            return {"$ref": "#/components/schemas/CompoundFilter"}
        return node
    if isinstance(node, list):
        return [_plain_refs(item) for item in node]
    return node


def load_spec() -> dict[str, Any]:
    """The excerpt, normalized for a 2020-12 validator."""
    module_spec = importlib.util.spec_from_file_location(
        "normalize_nullable", REFERENCE / "normalize_nullable.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec = yaml.safe_load((REFERENCE / "files-vector-stores.openapi.yaml").read_text())
    schemas = _plain_refs(module.fix(spec["components"]))["schemas"]
    for name in ("ListFilesResponse", "ListVectorStoresResponse", "ListVectorStoreFilesResponse"):
        properties = schemas[name]["properties"]
        for key in ("first_id", "last_id"):
            properties[key] = {"anyOf": [properties[key], {"type": "null"}]}
    spec["components"]["schemas"] = schemas
    return spec


class FilesSpec:
    """Validates answers by route; counts what it validated."""

    def __init__(self) -> None:
        resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
        self._registry = Registry().with_resource(URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self.counts: Counter[str] = Counter()

    def validate(self, name: str, body: Any) -> None:
        """AssertionError listing the violations of schema `name`."""
        if name not in self._validators:
            ref = {"$ref": f"{URI}#/components/schemas/{name}"}
            self._validators[name] = Draft202012Validator(ref, registry=self._registry)
        errors = list(self._validators[name].iter_errors(body))
        if errors:
            detail = "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5])
            raise AssertionError(f"{name} violated: {detail}\n{json.dumps(body)[:1500]}")
        self.counts[name] += 1

    def validate_response(self, method: str, path: str, status: int, body: bytes) -> None:
        """Validate one answer (path relative to `/v1`)."""
        if status >= 400:
            self.validate("ErrorResponse", json.loads(body))
            return
        for route_method, pattern, name in ROUTES:
            if route_method == method and re.fullmatch(pattern, path):
                if name is not None:
                    self.validate(name, json.loads(body))
                else:
                    self.counts["file content (bytes)"] += 1
                return
        raise AssertionError(f"no schema for {method} {path}")

    def hook(self) -> Any:
        """An httpx / httpx2 response hook validating every `/v1` answer."""

        async def check(response: Any) -> None:
            path = response.request.url.path
            if path.startswith("/v1"):
                body = await response.aread()
                self.validate_response(
                    response.request.method, path.removeprefix("/v1"), response.status_code, body
                )

        return check

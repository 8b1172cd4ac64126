"""The tool registry: plain Python functions (sync or async) that a run may call, by name.

```python
registry = ToolRegistry()

@registry.tool(timeout=10, retries=2)
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
    \"\"\"The forecast for a city.\"\"\"
    return {"city": city, "forecast": "sunny", "high": 21, "unit": unit}
```

The JSON Schema of the parameters comes from the signature's type hints (pydantic), the description
from the docstring's first paragraph; both can be given explicitly. The worker serves the registry
through `ToolActivities` (`activities.tool_calls`); `load_registries("pkg.mod:registry")` builds
one from the `THREADLOOM_TOOLS` setting.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

from threadloom.workflows.tool_contracts import OnError, ToolDescription, ToolPolicy

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Tool:
    """A registered function: its name, arguments model, definition and policy."""

    name: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    description: ToolDescription

    @property
    def policy(self) -> ToolPolicy:
        """Timeouts, retries and error handling of this tool's calls."""
        return self.description.policy


class ToolRegistry:
    """Functions a run may call, registered by name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        heartbeat: float | None = None,
        retry_interval: float = 0.5,
        on_error: OnError = "submit",
    ) -> Tool:
        """Register `function` (sync or async) as tool `name` (default: the function's name).

        Args:
            schema: the JSON Schema of the parameters; by default derived from the type hints.
            timeout: seconds one attempt may take (start-to-close).
            retries: attempts after the first when the function raises.
            heartbeat: seconds without a heartbeat after which the attempt counts as lost (its
                worker died); the worker heartbeats while the function runs.
            on_error: `"submit"` sends the error text as the call's output once the retries are
                spent (the model can react), `"fail"` cancels the run and fails the turn `ToolFailed`.
        """
        tool_name = name or function.__name__
        if tool_name in self._tools:
            raise ValueError(f"tool {tool_name!r} is registered already")
        arguments = arguments_model(function, tool_name)
        parameters = schema or _parameters_schema(arguments)
        definition = {
            "type": "function",
            "function": {
                "name": tool_name,
                "description": description or _first_paragraph(function.__doc__),
                "parameters": parameters,
            },
        }
        policy = ToolPolicy(
            timeout_seconds=timeout,
            retries=retries,
            heartbeat_seconds=heartbeat,
            retry_interval_seconds=retry_interval,
            on_error=on_error,
        )
        tool = Tool(
            name=tool_name,
            function=function,
            arguments=arguments,
            description=ToolDescription(name=tool_name, definition=definition, policy=policy),
        )
        self._tools[tool_name] = tool
        return tool

    def tool(self, **options: Any) -> Callable[[F], F]:
        """Decorator form of `register`: `@registry.tool(timeout=5)`."""

        def decorate(function: F) -> F:
            self.register(function, **options)
            return function

        return decorate

    def get(self, name: str) -> Tool | None:
        """The tool registered as `name`, if any."""
        return self._tools.get(name)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._tools)

    def definitions(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Function-tool definitions (`{"type": "function", "function": {...}}`) for a run."""
        wanted = self.names() if names is None else list(names)
        return [self._tools[name].description.definition for name in wanted]

    def merge(self, other: ToolRegistry) -> None:
        """Add every tool of `other` (names must not clash)."""
        for name, tool in other._tools.items():
            if name in self._tools:
                raise ValueError(f"tool {name!r} is registered already")
            self._tools[name] = tool


def arguments_model(function: Callable[..., Any], name: str) -> type[BaseModel]:
    """A pydantic model of the function's parameters (extra arguments are rejected)."""
    hints = typing.get_type_hints(function)
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    config = ConfigDict(extra="forbid")
    model: type[BaseModel] = create_model(f"{name}_arguments", __config__=config, **fields)
    return model


def _parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0].replace("\n", " ")


def load_registries(spec: str) -> ToolRegistry:
    """One registry from `"module:attribute"` entries, comma-separated (each a `ToolRegistry`)."""
    registry = ToolRegistry()
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, attribute = entry.partition(":")
        found = getattr(importlib.import_module(module_name), attribute or "registry")
        if not isinstance(found, ToolRegistry):
            raise TypeError(f"{entry} is not a ToolRegistry")
        registry.merge(found)
    return registry

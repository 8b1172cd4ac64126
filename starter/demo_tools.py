"""The tools a default worker serves: `get_weather`, the seed's weather-style function example.

Deterministic and offline, so the demo and tests can rely on its output; against a chat-completions
model the same definition lets the model call it (`THREADLOOM_TOOLS` chooses other registries).
"""

from __future__ import annotations

from typing import Literal

from threadloom.activities.tools import ToolRegistry

registry = ToolRegistry()

_FORECASTS = {"lisbon": ("sunny", 24), "london": ("light rain", 14), "oslo": ("snow", -3)}


@registry.tool(timeout=10, retries=2)
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather forecast for a city.

    Args:
        city: the city name, e.g. "Lisbon".
        unit: temperature unit.
    """
    sky, celsius = _FORECASTS.get(city.strip().lower(), ("cloudy", 18))
    degrees = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    symbol = "°C" if unit == "celsius" else "°F"
    return f"{city}: {sky}, {degrees}{symbol}"

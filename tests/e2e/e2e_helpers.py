"""Constants and helpers shared by the end-to-end test modules."""

from __future__ import annotations

import json
from typing import Any

try:  # openai >= 3 ships on httpx2; older releases on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

ADMIN_KEY = "sk-luc-abcdefghijklmnopqrstuvwxyz0123456789"

# Prices in the test config, nano-USD per token.
PRICES = {
    "ministral-8b": {"input": 200, "cached_input": 200, "cache_write": 200, "output": 1000},
    "claude-haiku-4-5": {"input": 1000, "cached_input": 100, "cache_write": 1250, "output": 5000},
}

# model name → what serves it in the test config.
SERVED = {
    "lucair/baseline": {"tier": "baseline", "model": "ministral-8b", "deployment": "fake-local", "kind": "openai"},
    "lucair/fast": {"tier": "fast", "model": "claude-haiku-4-5", "deployment": "fake-haiku", "kind": "anthropic"},
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    },
}
# What the fakes put in a tool call's arguments for these schemas (strings "example", integers 42).
WEATHER_ARGS = {"city": "example", "days": 42}
TIME_ARGS = {"timezone": "example"}

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


def expected_cost_nano(model: str, usage: dict[str, Any]) -> int:
    """What ``lucair.usage`` (input/cached/cache-write/output tokens) costs at the test prices."""
    p = PRICES[model]
    return (usage["input_tokens"] * p["input"] + usage["cached_input_tokens"] * p["cached_input"]
            + usage["cache_write_tokens"] * p["cache_write"] + usage["output_tokens"] * p["output"])


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def sse_events(response: httpx.Response) -> list[Any]:
    """Reads an SSE response to its end: each ``data:`` payload, JSON-decoded, and the string
    ``"[DONE]"`` for the terminator. Comments (``: …``) and other fields are skipped."""
    out: list[Any] = []
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                payload = "\n".join(data)
                out.append(payload if payload == "[DONE]" else json.loads(payload))
                data = []
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        payload = "\n".join(data)
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out

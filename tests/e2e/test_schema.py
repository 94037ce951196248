"""Lucair's responses, as raw JSON, against OpenAI's published OpenAPI schemas.

The ``lucair`` extension field rides along: OpenAI's response schemas allow extra properties.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e_helpers import PERSON_SCHEMA, WEATHER_TOOL, TIME_TOOL, sse_events, user
from openapi_schema import assert_valid, count_nullable, fixed_spec, raw_spec, validation_errors

MODELS = ["lucair/baseline", "lucair/fast"]


def chat(http, body: dict[str, Any]):
    return http.post("/v1/chat/completions", json=body)


def stream_events(http, body: dict[str, Any]) -> tuple[Any, list[Any]]:
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return r, sse_events(r)


# ---------------------------------------------------------------------------------------------
# The schema loader itself


def test_spec_nullable_is_rewritten() -> None:
    assert count_nullable(raw_spec()) > 100, "the spec no longer uses `nullable`: revisit openapi_schema.py"
    assert count_nullable(fixed_spec()) == 0
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None, "logprobs": None}]}
    assert validation_errors("CreateChatCompletionStreamResponse", chunk) == []
    # ...while it still rejects what it must.
    bad = {**chunk, "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "bogus"}]}
    assert validation_errors("CreateChatCompletionStreamResponse", bad)
    assert validation_errors("ErrorResponse", {"error": {"message": "m", "type": "t"}})


# ---------------------------------------------------------------------------------------------
# Chat completions


@pytest.mark.parametrize("model", MODELS)
def test_non_streaming_response(http, model: str) -> None:
    r = chat(http, {"model": model, "messages": user("Say hello.")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "lucair" in body
    assert_valid("CreateChatCompletionResponse", body)


@pytest.mark.parametrize("model", MODELS)
def test_non_streaming_tool_call_response(http, model: str) -> None:
    r = chat(http, {"model": model, "messages": user("[fake parallel=1] Weather and time?"), "tools": [WEATHER_TOOL, TIME_TOOL]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["choices"][0]["message"]["tool_calls"]) == 2
    assert_valid("CreateChatCompletionResponse", body)


@pytest.mark.parametrize("model", MODELS)
def test_non_streaming_json_schema_response(http, model: str) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    r = chat(http, {"model": model, "messages": user("A person as JSON."), "response_format": rf})
    assert r.status_code == 200, r.text
    assert_valid("CreateChatCompletionResponse", r.json())


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "include-usage"])
def test_stream_chunks(http, model: str, include_usage: bool) -> None:
    body: dict[str, Any] = {"model": model, "messages": user("Say hello.")}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    _, events = stream_events(http, body)
    assert events and events[-1] == "[DONE]", f"the stream does not end with [DONE]: {events[-3:]}"
    assert events.count("[DONE]") == 1
    chunks = events[:-1]
    assert chunks
    for i, chunk in enumerate(chunks):
        assert "error" not in chunk, chunk
        errors = validation_errors("CreateChatCompletionStreamResponse", chunk)
        assert not errors, f"chunk {i} of {len(chunks)} does not match CreateChatCompletionStreamResponse:\n  " + "\n  ".join(errors) + f"\n{chunk!r}"
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert usage_chunks == [chunks[-1]] and chunks[-1]["choices"] == []
    else:
        assert usage_chunks == []
        assert all(c["choices"] for c in chunks)


@pytest.mark.parametrize("model", MODELS)
def test_stream_tool_call_chunks(http, model: str) -> None:
    _, events = stream_events(http, {"model": model, "messages": user("[fake parallel=1] Weather and time?"),
                                     "tools": [WEATHER_TOOL, TIME_TOOL], "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    assert any(ch.get("delta", {}).get("tool_calls") for c in events[:-1] for ch in c["choices"])
    for chunk in events[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", chunk)


@pytest.mark.parametrize("model", MODELS)
def test_mid_stream_error_event_is_error_response(http, model: str) -> None:
    _, events = stream_events(http, {"model": model, "messages": user("[fake error_after=3 chunks=6] Hi")})
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    assert len(errors) == 1, events
    assert events[-1] is errors[0] or events[-1] == "[DONE]"
    assert_valid("ErrorResponse", errors[0])
    for chunk in events:
        if isinstance(chunk, dict) and "error" not in chunk:
            assert_valid("CreateChatCompletionStreamResponse", chunk)


# ---------------------------------------------------------------------------------------------
# Models and embeddings


def test_models_list(http) -> None:
    r = http.get("/v1/models")
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid("ListModelsResponse", body)
    ids = [m["id"] for m in body["data"]]
    for expected in ("auto", "lucair/baseline", "lucair/fast", "ministral-8b", "claude-haiku-4-5"):
        assert expected in ids, f"{expected!r} missing from /v1/models: {ids}"
    assert len(ids) == len(set(ids))


def test_embeddings(http) -> None:
    r = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hello"})
    # The test config has no embeddings deployment: a 404 in OpenAI's error shape, else a valid list.
    if r.status_code == 200:
        assert_valid("CreateEmbeddingResponse", r.json())
    else:
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "model_not_found"
        assert_valid("ErrorResponse", r.json())


# ---------------------------------------------------------------------------------------------
# Errors


def _error(r, status: int, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, f"expected HTTP {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert_valid("ErrorResponse", body)
    if code is not None:
        assert body["error"]["code"] == code, body
    if param is not None:
        assert body["error"]["param"] == param, body
    assert body["error"]["message"]
    return body


def test_error_401_missing_key(lucair) -> None:
    with lucair.http(headers={"Authorization": ""}) as h:
        del h.headers["Authorization"]
        _error(chat(h, {"model": "auto", "messages": user("Hi")}), 401, "missing_api_key")


def test_error_401_invalid_key(lucair) -> None:
    with lucair.http(headers={"Authorization": "Bearer sk-luc-not-a-real-key-000000000000000"}) as h:
        _error(chat(h, {"model": "auto", "messages": user("Hi")}), 401, "invalid_api_key")
        _error(h.get("/v1/models"), 401, "invalid_api_key")


@pytest.mark.parametrize("body,param", [
    ({"model": "auto", "messages": user("Hi"), "temperature": "hot"}, "temperature"),
    ({"model": "auto", "messages": []}, "messages"),
    ({"model": "auto", "messages": user("Hi"), "n": 2}, "n"),
    ({"model": "auto"}, "messages"),
    ({"messages": user("Hi")}, "model"),
    ({"model": "auto", "messages": user("Hi"), "stream_options": {"include_usage": True}}, "stream_options"),
], ids=["temperature-hot", "empty-messages", "n=2", "no-messages", "no-model", "stream-options-without-stream"])
def test_error_400(http, body: dict[str, Any], param: str) -> None:
    _error(chat(http, body), 400, param=param)


def test_error_400_invalid_json(http) -> None:
    r = http.post("/v1/chat/completions", content=b'{"model": "auto", "messages": [', headers={"Content-Type": "application/json"})
    _error(r, 400, "invalid_json")


def test_error_404_unknown_model(http) -> None:
    _error(chat(http, {"model": "no-such-model", "messages": user("Hi")}), 404, "model_not_found", "model")


def test_error_404_unknown_model_streaming(http) -> None:
    _error(chat(http, {"model": "no-such-model", "messages": user("Hi"), "stream": True}), 404, "model_not_found", "model")


def test_error_404_unknown_endpoint(http) -> None:
    _error(http.get("/v1/no-such-endpoint"), 404)


def test_error_413_body_too_large(http) -> None:
    filler = "x" * (8 * 1024 * 1024 + 1024)
    body = json.dumps({"model": "auto", "messages": user(filler)}).encode()
    assert len(body) > 8 * 1024 * 1024
    r = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    _error(r, 413)


def test_error_415_wrong_content_type(http) -> None:
    body = json.dumps({"model": "auto", "messages": user("Hi")})
    r = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "text/plain"})
    _error(r, 415)


def test_error_upstream_overloaded(http) -> None:
    r = chat(http, {"model": "lucair/fast", "messages": user("[fake status=529 retry_after=2] Hi")})
    _error(r, 503, "upstream_overloaded")
    assert r.headers["retry-after"] == "2"

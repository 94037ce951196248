"""Lucair through the official OpenAI Python client, on both fake upstreams.

``lucair/baseline`` is served by the OpenAI-compatible fake (Lucair relays and normalises);
``lucair/fast`` by the Anthropic fake (Lucair translates to and from the Messages API).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import jsonschema
import openai
import pytest

from e2e_helpers import (
    PERSON_SCHEMA, SERVED, TIME_ARGS, TIME_TOOL, WEATHER_ARGS, WEATHER_TOOL, expected_cost_nano, httpx, user,
)

MODELS = ["lucair/baseline", "lucair/fast"]
GREETING = "Bonjour tout le monde"
GREETING_DIRECTIVE = "[fake text=Bonjour_tout_le_monde chunks=4]"
TOOL_RESULT = "Sunny, 21 C, light wind from the west"


@pytest.fixture(autouse=True)
def breakers_closed(client: openai.OpenAI, http: httpx.Client) -> Iterator[None]:
    """Several tests here make the fake fail, which opens a deployment's breaker by design (at once
    for a retry-after, for the cool-down when a probe fails). Each test starts with every breaker
    closed again, so which tier serves a request does not depend on how fast the suite ran."""
    yield
    deadline = time.monotonic() + 15
    while any(d["breaker"] != "closed" for d in http.get("/health").json()["deployments"]):
        assert time.monotonic() < deadline, "a deployment's breaker stayed open"
        for model in MODELS:  # a request once the breaker's time is up is its probe
            try:
                client.chat.completions.create(model=model, messages=user("Hi"))
            except openai.APIError:
                pass
        time.sleep(0.1)


def lucair_field(obj: Any) -> dict[str, Any]:
    """The ``lucair`` extension field the client keeps as an extra attribute."""
    extra = obj.model_extra or {}
    assert "lucair" in extra, f"no 'lucair' field in {obj!r}"
    return extra["lucair"]


# ---------------------------------------------------------------------------------------------
# Plain chat


@pytest.mark.parametrize("model", MODELS)
def test_non_streaming(client: openai.OpenAI, model: str) -> None:
    served = SERVED[model]
    completion = client.chat.completions.create(model=model, messages=user(f"{GREETING_DIRECTIVE} Say hello."))
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == served["model"]
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == GREETING
    assert not choice.message.tool_calls
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    ext = lucair_field(completion)
    assert ext["tier"] == served["tier"] and ext["model"] == served["model"] and ext["deployment"] == served["deployment"]
    assert ext["usage"]["estimated"] is False


@pytest.mark.parametrize("model", MODELS)
def test_streaming_without_include_usage(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(model=model, messages=user(f"{GREETING_DIRECTIVE} Say hello."), stream=True)
    chunks = list(stream)
    assert chunks, "the stream carried no chunk"
    assert all(c.usage is None for c in chunks), "a usage chunk arrived although include_usage was not set"
    assert all(len(c.choices) == 1 for c in chunks), "a chunk with no choice (a usage chunk) arrived"
    assert len({c.id for c in chunks}) == 1, "chunks of one stream carry different ids"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == GREETING
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", MODELS)
def test_streaming_with_include_usage(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model, messages=user(f"{GREETING_DIRECTIVE} Say hello."), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, f"expected exactly one usage chunk, got {len(with_usage)}"
    last = chunks[-1]
    assert last is with_usage[0], "the usage chunk is not the last chunk"
    assert last.choices == []
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == GREETING
    ext = lucair_field(last)
    assert ext["tier"] == SERVED[model]["tier"]
    assert ext["usage"]["output_tokens"] == last.usage.completion_tokens
    assert ext["cost"]["nano_usd"] == expected_cost_nano(SERVED[model]["model"], ext["usage"])


# ---------------------------------------------------------------------------------------------
# Tools


@pytest.mark.parametrize("model", MODELS)
def test_tool_call_round_trip(client: openai.OpenAI, model: str) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS

    messages.append(choice.message)  # the pattern OpenAI's function-calling guide shows
    messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
    final = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    answer = final.choices[0]
    assert answer.finish_reason == "stop"
    assert not answer.message.tool_calls
    assert answer.message.content and TOOL_RESULT in answer.message.content, answer.message.content


@pytest.mark.parametrize("model", MODELS)
def test_parallel_tool_calls_non_streaming(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.create(
        model=model, messages=user("[fake parallel=1] Weather and time in Paris?"), tools=[WEATHER_TOOL, TIME_TOOL])
    calls = completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == [WEATHER_ARGS, TIME_ARGS]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize("model", MODELS)
def test_streaming_tool_calls_assembled_by_index(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model, messages=user("[fake parallel=1] Weather and time in Paris?"), tools=[WEATHER_TOOL, TIME_TOOL], stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    assert not entry["id"] or entry["id"] == tc.id, "a tool call's id changed mid-stream"
                    entry["id"] = tc.id
                if tc.function and tc.function.name:
                    entry["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    entry["arguments"] += tc.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1], f"tool call indexes: {sorted(calls)}"
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [WEATHER_ARGS, TIME_ARGS]
    assert all(calls[i]["id"] for i in (0, 1)) and calls[0]["id"] != calls[1]["id"]


def test_anthropic_receives_system_and_tool_result(client: openai.OpenAI, fake) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    first = client.chat.completions.create(model="lucair/fast", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    sent = fake.stats()["last_anthropic"]
    assert [t["name"] for t in sent["tools"]] == ["get_weather"]
    assert sent["tools"][0]["input_schema"] == WEATHER_TOOL["function"]["parameters"]

    messages.append(first.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
    client.chat.completions.create(model="lucair/fast", messages=messages, tools=[WEATHER_TOOL])
    sent = fake.stats()["last_anthropic"]

    system = sent.get("system")
    system_text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system or [])
    assert system_text == "You are a weather assistant.", f"top-level system: {system!r}"
    roles = [m["role"] for m in sent["messages"]]
    assert "system" not in roles
    assert roles == ["user", "assistant", "user"], roles
    tool_use = [b for b in sent["messages"][1]["content"] if b.get("type") == "tool_use"]
    assert len(tool_use) == 1 and tool_use[0]["id"] == call.id and tool_use[0]["name"] == "get_weather"
    assert tool_use[0]["input"] == WEATHER_ARGS
    results = [b for b in sent["messages"][2]["content"] if b.get("type") == "tool_result"]
    assert len(results) == 1
    assert results[0]["tool_use_id"] == call.id
    content = results[0]["content"]
    content_text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    assert content_text == TOOL_RESULT


def test_openai_upstream_receives_request_unchanged(client: openai.OpenAI, fake) -> None:
    client.chat.completions.create(
        model="lucair/baseline", messages=[{"role": "system", "content": "Be brief."}, *user("Hi")],
        tools=[WEATHER_TOOL], temperature=0.3, seed=7)
    sent = fake.stats()["last_openai"]
    assert sent["model"] == "ministral-8b"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent["temperature"] == 0.3 and sent["seed"] == 7


# ---------------------------------------------------------------------------------------------
# Structured output


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_json_schema_response_format(client: openai.OpenAI, model: str, stream: bool) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    messages = user("Describe a person as JSON.")
    if stream:
        chunks = list(client.chat.completions.create(model=model, messages=messages, response_format=response_format, stream=True))
        assert not any(tc for c in chunks for ch in c.choices for tc in (ch.delta.tool_calls or []))
        content = "".join(ch.delta.content or "" for c in chunks for ch in c.choices)
        finish = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
        assert finish == ["stop"]
    else:
        completion = client.chat.completions.create(model=model, messages=messages, response_format=response_format)
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "stop"
        assert not message.tool_calls, "the structured answer came back as a tool call"
        content = message.content
    data = json.loads(content)
    assert set(PERSON_SCHEMA["required"]) <= set(data)
    jsonschema.validate(data, PERSON_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Errors


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=user("Hi"))
    assert e.value.status_code == 404
    assert e.value.code == "model_not_found"
    assert e.value.param == "model"


@pytest.mark.parametrize("model", MODELS)
def test_bad_temperature_is_bad_request(client: openai.OpenAI, model: str, fake) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=user("Hi"), temperature="hot")  # type: ignore[arg-type]
    assert e.value.status_code == 400
    assert e.value.param == "temperature"
    assert fake.stats()["requests"] == 0, "an invalid request reached the upstream"


@pytest.mark.parametrize("kwargs", [
    {"messages": []},
    {"messages": [{"role": "user", "content": "Hi"}], "n": 2},
    {"messages": [{"role": "user", "content": "Hi"}], "temperature": 3},
], ids=["empty-messages", "n=2", "temperature-out-of-range"])
def test_other_invalid_params_are_bad_requests(client: openai.OpenAI, kwargs: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="lucair/baseline", **kwargs)
    assert e.value.status_code == 400
    assert e.value.type == "invalid_request_error"


def test_bad_key_is_authentication_error(lucair) -> None:
    bad = lucair.client(api_key="sk-luc-this-key-does-not-exist-0000000000")
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="lucair/baseline", messages=user("Hi"))
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"


@pytest.mark.parametrize("model", MODELS)
def test_upstream_rate_limit_is_429(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=model, messages=user("[fake status=429 retry_after=2] Hi"))
    assert e.value.status_code == 429
    assert e.value.response.headers.get("retry-after") == "2"


def test_anthropic_overloaded_is_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="lucair/fast", messages=user("[fake status=529 retry_after=3] Hi"))
    assert isinstance(e.value, openai.InternalServerError)
    assert e.value.status_code == 503
    assert e.value.code == "upstream_overloaded"
    assert e.value.response.headers.get("retry-after") == "3"


@pytest.mark.parametrize("model", MODELS)
def test_streaming_upstream_failure_before_first_byte_is_http_error(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        list(client.chat.completions.create(model=model, messages=user("[fake status=429] Hi"), stream=True))
    assert e.value.status_code == 429


@pytest.mark.parametrize("model", MODELS)
def test_mid_stream_error_raises_api_error(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(model=model, messages=user("[fake error_after=3 chunks=6] Hi"), stream=True)
    received = []
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(e.value, openai.APIStatusError), "the failure should arrive in the stream, after the 200"
    assert e.value.message
    assert isinstance(e.value.body, dict) and e.value.body.get("type"), f"error body: {e.value.body!r}"


@pytest.mark.parametrize("model", MODELS)
def test_upstream_disconnect_mid_stream_raises_api_error(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(model=model, messages=user("[fake disconnect_after=3 chunks=6] Hi"), stream=True)
    with pytest.raises(openai.APIError) as e:
        for _ in stream:
            pass
    assert not isinstance(e.value, openai.APIStatusError)


# ---------------------------------------------------------------------------------------------
# Headers, cost, cache tokens


@pytest.mark.parametrize("model", MODELS)
def test_lucair_headers(client: openai.OpenAI, model: str) -> None:
    served = SERVED[model]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=user("Hi"))
    h = raw.headers
    completion = raw.parse()
    ext = lucair_field(completion)
    assert h["x-lucair-request-id"].startswith("req") and h["x-lucair-request-id"] == ext["request_id"]
    assert h["x-lucair-tier"] == served["tier"] == ext["tier"]
    assert h["x-lucair-model"] == served["model"] == ext["model"]
    assert h["x-lucair-deployment"] == served["deployment"] == ext["deployment"]
    assert h["x-lucair-route-reason"] == "tier_alias" == ext["route"]["reason"]
    u = ext["usage"]
    assert int(h["x-lucair-input-tokens"]) == u["input_tokens"] > 0
    assert int(h["x-lucair-output-tokens"]) == u["output_tokens"] > 0
    assert int(h["x-lucair-cached-input-tokens"]) == u["cached_input_tokens"]
    assert int(h["x-lucair-cache-write-tokens"]) == u["cache_write_tokens"]
    assert h["x-lucair-usage-estimated"] == "false"
    cost = expected_cost_nano(served["model"], u)
    assert int(h["x-lucair-cost-nano-usd"]) == ext["cost"]["nano_usd"] == cost
    assert h["x-lucair-cost-usd"] == f"{cost // 10**9}.{cost % 10**9:09d}"  # exact decimal of the integer nano-USD
    assert ext["cost"]["usd"] == h["x-lucair-cost-usd"]
    assert completion.usage.prompt_tokens == u["input_tokens"] + u["cached_input_tokens"] + u["cache_write_tokens"]
    assert completion.usage.completion_tokens == u["output_tokens"]


@pytest.mark.parametrize("model", MODELS)
def test_lucair_headers_on_streams(client: openai.OpenAI, model: str) -> None:
    served = SERVED[model]
    with client.chat.completions.with_streaming_response.create(model=model, messages=user("Hi"), stream=True) as raw:
        h = raw.headers
        assert h["content-type"].startswith("text/event-stream")
        assert h["x-lucair-request-id"].startswith("req")
        assert h["x-lucair-tier"] == served["tier"]
        assert h["x-lucair-model"] == served["model"]
        assert h["x-lucair-deployment"] == served["deployment"]
        assert h["x-lucair-route-reason"] == "tier_alias"
        chunks = list(raw.parse())
    assert chunks and all(c.id == "chatcmpl-" + h["x-lucair-request-id"][4:] for c in chunks)


@pytest.mark.parametrize("name,tier,reason", [
    ("lucair/baseline", "baseline", "tier_alias"),
    ("ministral-8b", "baseline", "explicit_model"),
    ("claude-haiku-4-5", "fast", "explicit_model"),
])
def test_model_names_route(client: openai.OpenAI, name: str, tier: str, reason: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=name, messages=user("Hi"))
    assert raw.headers["x-lucair-tier"] == tier
    assert raw.headers["x-lucair-route-reason"] == reason
    assert raw.parse().choices[0].message.content


def test_anthropic_cache_tokens_are_priced(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="lucair/fast", messages=user("[fake cache_read=100 cache_write=50] Hi"))
    completion = raw.parse()
    u = lucair_field(completion)["usage"]
    assert u["cached_input_tokens"] == 100
    assert u["cache_write_tokens"] == 50
    assert u["input_tokens"] > 0 and u["output_tokens"] > 0
    cost = u["input_tokens"] * 1000 + 100 * 100 + 50 * 1250 + u["output_tokens"] * 5000
    assert lucair_field(completion)["cost"]["nano_usd"] == cost
    assert int(raw.headers["x-lucair-cost-nano-usd"]) == cost
    assert int(raw.headers["x-lucair-cached-input-tokens"]) == 100
    assert int(raw.headers["x-lucair-cache-write-tokens"]) == 50
    assert completion.usage.prompt_tokens == u["input_tokens"] + 150
    assert completion.usage.prompt_tokens_details.cached_tokens == 100


def test_anthropic_cache_tokens_in_stream_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="lucair/fast", messages=user("[fake cache_read=100 cache_write=50] Hi"), stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.usage is not None and last.choices == []
    u = lucair_field(last)["usage"]
    assert (u["cached_input_tokens"], u["cache_write_tokens"]) == (100, 50)
    assert last.usage.prompt_tokens == u["input_tokens"] + 150
    assert last.usage.prompt_tokens_details.cached_tokens == 100
    assert lucair_field(last)["cost"]["nano_usd"] == u["input_tokens"] * 1000 + 100 * 100 + 50 * 1250 + u["output_tokens"] * 5000


def test_openai_cached_tokens_are_counted(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="lucair/baseline", messages=user("[fake cache_read=100] Hi"))
    u = lucair_field(completion)["usage"]
    assert u["cached_input_tokens"] == 100
    assert u["input_tokens"] > 0
    assert completion.usage.prompt_tokens == u["input_tokens"] + 100
    assert completion.usage.prompt_tokens_details.cached_tokens == 100
    assert lucair_field(completion)["cost"]["nano_usd"] == expected_cost_nano("ministral-8b", u)


def test_usage_is_estimated_when_upstream_reports_none(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="lucair/baseline", messages=user("[fake no_usage=1] Hi"))
    u = lucair_field(completion)["usage"]
    assert u["estimated"] is True
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


def test_stream_usage_is_estimated_when_upstream_reports_none(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="lucair/baseline", messages=user("[fake no_usage=1] Hi"), stream=True, stream_options={"include_usage": True}))
    assert [c for c in chunks if c.usage is not None] == [chunks[-1]]
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0
    assert lucair_field(chunks[-1])["usage"]["estimated"] is True


# ---------------------------------------------------------------------------------------------
# A client that goes away


@pytest.mark.parametrize("model", MODELS)
def test_client_disconnect_cancels_upstream_stream(client: openai.OpenAI, model: str, fake) -> None:
    stream = client.chat.completions.create(
        model=model, messages=user("[fake chunks=50 chunk_delay_ms=50] Count to fifty."), stream=True)
    received = 0
    for _ in stream:
        received += 1
        if received == 2:
            break
    stream.close()
    closed_at = time.monotonic()
    # The fake would need 50 × 50 ms = 2.5 s to finish; it must notice the cancellation instead.
    deadline = closed_at + 5
    stats = fake.stats()
    while stats["cancelled_streams"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = fake.stats()
    assert stats["cancelled_streams"] == 1, f"the upstream stream was not cancelled within 5 s: {stats['cancelled_streams']}"


def test_auto_explains_its_route(client: openai.OpenAI) -> None:
    """`auto` through the official client: the decision is in x-lucair-route-* headers and in the
    `lucair.route` body field, and work that needs more goes higher than work that does not."""
    summary = user("Summarize in one sentence: The council met on Tuesday and agreed to fund the new library.")
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=summary)
    h = raw.headers
    assert h["x-lucair-tier"] == "baseline"
    assert h["x-lucair-route-task"] == "summarize"
    assert h["x-lucair-route-reason"].split(",")[0] == "bar_cleared"
    assert h["x-lucair-router-version"] == "router-v1"
    assert 0.0 <= float(h["x-lucair-route-confidence"]) <= 1.0
    assert float(h["x-lucair-route-p-tier-ok"]) >= float(h["x-lucair-route-quality-bar"])
    route = lucair_field(raw.parse())["route"]
    assert route["tier"] == "baseline" and route["assessment"]["task"] == "summarize"
    assert float(h["x-lucair-route-score"]) == route["assessment"]["score"]

    proof = user("Prove that the square root of 2 is irrational, then show that x^2 - 2 = 0 has no rational root. Explain each step.")
    hard = client.chat.completions.with_raw_response.create(model="auto", messages=proof)
    assert float(hard.headers["x-lucair-route-score"]) > float(h["x-lucair-route-score"])
    assert hard.headers["x-lucair-tier"] == "fast"  # the highest tier this config has
    assert hard.headers["x-lucair-route-task"] == "math"


def test_route_endpoint_explains_without_serving(client: openai.OpenAI) -> None:
    r = client.post("/route", body={"messages": user("Translate to French: good morning")}, cast_to=httpx.Response)
    body = r.json()
    assert body["object"] == "lucair.route"
    assert body["assessment"]["task"] == "translate"
    assert body["tier"] in ("baseline", "fast") and body["reasons"][0] == "bar_cleared"

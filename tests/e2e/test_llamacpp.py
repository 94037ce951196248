"""The embedded default (`lucair serve` with no config): a real llama.cpp serving SmolLM2-135M as
Baseline. Small and greedy so it stays fast and deterministic enough to assert on."""

from __future__ import annotations

import openai

from e2e_helpers import sse_events, user
from openapi_schema import assert_valid

PROMPT = user("Say hello in French.")


def test_health_reports_ready_engine(embedded) -> None:
    with embedded.http() as h:
        health = h.get("/health").json()
    assert health["status"] == "ok", health
    assert [e["state"] for e in health["engines"]] == ["ready"], health
    assert "baseline" in health["tiers"]


def test_non_streaming_chat(embedded, llama_client: openai.OpenAI) -> None:
    raw = llama_client.chat.completions.with_raw_response.create(model="auto", messages=PROMPT, max_tokens=16, temperature=0)
    assert raw.headers["x-lucair-tier"] == "baseline"
    assert raw.headers["x-lucair-route-reason"].startswith("bar_cleared")
    assert raw.headers["x-lucair-model"] == "smollm2-135m"
    completion = raw.parse()
    answer = completion.choices[0].message.content
    assert answer and answer.strip(), f"empty answer: {completion!r}"
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 16
    assert int(raw.headers["x-lucair-output-tokens"]) == completion.usage.completion_tokens
    lucair = completion.model_extra["lucair"]
    assert lucair["tier"] == "baseline" and lucair["usage"]["estimated"] is False
    assert_valid("CreateChatCompletionResponse", raw.http_response.json())


def test_streaming_chat(embedded) -> None:
    body = {"model": "auto", "messages": PROMPT, "max_tokens": 16, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    with embedded.http(timeout=120) as h, h.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["x-lucair-tier"] == "baseline"
        events = sse_events(r)
    assert events[-1] == "[DONE]", events[-3:]
    chunks = events[:-1]
    for chunk in chunks:
        assert "error" not in chunk, chunk
        assert_valid("CreateChatCompletionStreamResponse", chunk)
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text.strip(), f"the stream generated no text: {chunks!r}"
    usage_chunks = [c for c in chunks if c.get("usage")]
    assert usage_chunks == [chunks[-1]] and chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 16
    assert chunks[-1]["lucair"]["tier"] == "baseline"


def test_engines_drain_and_undrain(embedded, llama_client: openai.OpenAI) -> None:
    """`lucair engines drain`: no new requests reach the engine (with no other tier configured, a
    clear 503 that says why), those in flight finish; `undrain` returns it to service."""
    import subprocess

    from conftest import BIN_DIR

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN_DIR / "lucair"), "engines", *args, "--url", embedded.root_url, "--key", embedded.api_key],
                              capture_output=True, text=True, timeout=60)

    name = cli("list").stdout.split()[0]
    drained = cli("drain", name, "--wait", "10")
    assert drained.returncode == 0 and "draining=true" in drained.stdout and "in_flight=0" in drained.stdout, drained.stdout + drained.stderr
    with embedded.http() as h:
        r = h.post("/v1/chat/completions", json={"model": "auto", "messages": PROMPT, "max_tokens": 4})
        assert r.status_code == 503 and r.json()["error"]["code"] == "deployments_busy", r.text
        assert h.get("/health").json()["engines"][0]["draining"] is True
        gauges = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in h.get("/metrics").text.splitlines() if l.startswith("lucair_")}
        assert gauges[f'lucair_engine_up{{engine="{name}"}}'] == 1, gauges
        assert [v for k, v in gauges.items() if k.startswith("lucair_deployment_draining{")] == [1], gauges
    back = cli("undrain", name)
    assert back.returncode == 0 and "draining=false" in back.stdout, back.stdout + back.stderr
    raw = llama_client.chat.completions.with_raw_response.create(model="auto", messages=PROMPT, max_tokens=4, temperature=0)
    assert raw.headers["x-lucair-tier"] == "baseline"


def test_a_killed_engine_is_restarted_and_traffic_returns(embedded, llama_client: openai.OpenAI) -> None:
    """Last in this module: kill -9 the llama.cpp engine; the supervisor restarts it (with backoff),
    /health says so, and requests are served by it again."""
    import os
    import signal
    import time

    with embedded.http() as h:
        before = h.get("/health").json()["engines"][0]
        assert before["state"] == "ready" and before["pid"] > 0
        os.kill(before["pid"], signal.SIGKILL)
        seen_down, after = False, before
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            health = h.get("/health").json()
            after = health["engines"][0]
            if after["state"] != "ready":
                seen_down = True
                assert health["status"] == "degraded"
            elif after["pid"] != before["pid"]:
                break
            time.sleep(0.1)
    assert seen_down, "the supervisor never reported the engine down"
    assert after["state"] == "ready" and after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1, after
    raw = llama_client.chat.completions.with_raw_response.create(model="auto", messages=PROMPT, max_tokens=8, temperature=0)
    assert raw.headers["x-lucair-tier"] == "baseline" and raw.parse().choices[0].message.content

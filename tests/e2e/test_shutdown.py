"""SIGTERM while the official openai client reads a long stream: the stream ends with an error
event (`server_shutting_down`) once `server.shutdown_grace_ms` is over, the process exits soon after
and cleanly, and what the stream delivered is stored as a usage record before it does."""
from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import openai
import pytest

from conftest import _binary, _start_gateway, lucair_config
from e2e_helpers import ADMIN_KEY


def test_sigterm_mid_stream_ends_it_with_an_error_and_meters_it(fake_upstream, tmp_path: Path) -> None:
    config = tmp_path / "lucair.toml"
    config.write_text(lucair_config(fake_upstream.port, tmp_path).replace(
        'listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nshutdown_grace_ms = 500', 1))
    gw = _start_gateway("shutdown", [str(_binary("lucair")), "serve", "--config", str(config)], tmp_path, ADMIN_KEY, timeout=60)
    try:
        raw = gw.client().chat.completions.with_raw_response.create(
            model="ministral-8b", stream=True,
            messages=[{"role": "user", "content": "a long answer [fake chunks=100 chunk_delay_ms=100]"}])  # ≈ 10 s
        request_id = raw.headers["x-lucair-request-id"]
        chunks = iter(raw.parse())
        for _ in range(3):
            next(chunks)
        gw.proc.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        with pytest.raises(openai.APIError) as cut:
            for _ in chunks:
                pass
        assert cut.value.body and cut.value.body.get("code") == "server_shutting_down", cut.value.body
        assert gw.proc.proc.wait(timeout=10) == 0
        assert time.monotonic() - sent < 5, "the shutdown waited for the stream instead of its grace period"
    finally:
        gw.proc.stop()
    row = sqlite3.connect(str(tmp_path / "lucair.sqlite")).execute(
        "SELECT status, error_type, output_tokens, estimated FROM usage_records WHERE request_id = ?", (request_id,)).fetchone()
    assert row is not None, "the cut stream was not metered"
    status, error_type, output_tokens, estimated = row
    assert (status, error_type) == (503, "server_shutting_down") and output_tokens > 0 and estimated, row

"""Session fixtures for Lucair's end-to-end tests.

* ``fake_upstream``: one ``lucair-fake-upstream --port 0`` (OpenAI-compatible and Anthropic fakes).
* ``lucair``: one ``lucair serve --config …`` whose Baseline tier is the OpenAI-compatible fake and
  whose Fast tier is the Anthropic fake.
* ``embedded``: ``lucair serve --home … --listen 127.0.0.1:0`` with no config: the embedded default,
  a real llama.cpp (xllamacpp) serving SmolLM2-135M as Baseline.

Binaries come from ``$LUCAIR_BIN_DIR`` (default ``<repo>/.build/debug``). Each process runs in its
own session; its stdout goes through a pseudo-terminal (so a line-buffered ``print`` shows up at
once) and is saved with its stderr under the session's temp dir. If a process fails to start, the
test run fails with the tail of both.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

try:  # openai >= 3 ships on httpx2; older releases on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]
import openai
import pytest

from e2e_helpers import ADMIN_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("LUCAIR_BIN_DIR", str(REPO_ROOT / ".build" / "debug")))

# Variables that would change what the gateways serve; the tests set everything they need.
_SCRUBBED_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "LUCAIR_ADMIN_KEY", "LUCAIR_STORAGE_URL", "LUCAIR_HOME", "LOG_LEVEL",
                 "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE")


def _binary(name: str) -> Path:
    path = BIN_DIR / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it first (swift build), or set LUCAIR_BIN_DIR", pytrace=False)
    return path


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"


class ManagedProcess:
    """A child process in its own session, its stdout read through a pty, both streams saved."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self._stdout = ""
        self._cond = threading.Condition()
        master, slave = pty.openpty()
        self._stderr_file = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=self._stderr_file,
            env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self._master = master
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.stdout_path.open("wb") as log:
            while True:
                try:
                    data = os.read(self._master, 65536)
                except OSError:  # EIO once the child side of the pty is closed
                    data = b""
                if not data:
                    break
                log.write(data)
                log.flush()
                with self._cond:
                    self._stdout += data.decode(errors="replace").replace("\r\n", "\n")
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stdout(self) -> str:
        with self._cond:
            return self._stdout

    def diagnostics(self) -> str:
        return (f"--- {self.name}: {' '.join(self.argv)}\n--- stdout ({self.stdout_path}):\n{_tail(self.stdout_path)}\n"
                f"--- stderr ({self.stderr_path}):\n{_tail(self.stderr_path)}")

    def fail(self, why: str) -> None:
        time.sleep(0.2)  # let the reader drain the last output
        pytest.fail(f"{self.name} {why}\n{self.diagnostics()}", pytrace=False)

    def wait_for_stdout(self, pattern: str, timeout: float) -> re.Match[str]:
        """Waits until stdout matches ``pattern``; fails (with the logs) on exit or timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._stdout)
                if m:
                    return m
                if self.proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
        if self.proc.poll() is not None:
            self.fail(f"exited with status {self.proc.returncode} before printing /{pattern}/")
        self.fail(f"did not print /{pattern}/ within {timeout:.0f} s")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the process group this process leads (it and its children)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers such as an engine child
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=2)
        try:
            os.close(self._master)
        except OSError:
            pass
        self._stderr_file.close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["NO_COLOR"] = "1"
    return env


def _wait_healthy(proc: ManagedProcess, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            proc.fail(f"exited with status {proc.proc.returncode} while waiting for {url}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(0.1)
    proc.fail(f"{url} did not answer 200 within {timeout:.0f} s (last: {last})")


# ---------------------------------------------------------------------------------------------
# The fake upstream


class FakeUpstream:
    def __init__(self, proc: ManagedProcess, base_url: str):
        self.proc = proc
        self.base_url = base_url  # http://127.0.0.1:PORT
        self.port = int(base_url.rsplit(":", 1)[1])

    def stats(self) -> dict[str, Any]:
        r = httpx.get(f"{self.base_url}/_fake/stats", timeout=5)
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_fake/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def fake_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    log_dir = tmp_path_factory.mktemp("fake-upstream")
    proc = ManagedProcess("fake-upstream", [str(_binary("lucair-fake-upstream")), "--port", "0"], log_dir, env=_env())
    try:
        m = proc.wait_for_stdout(r"fake upstream listening on (http://127\.0\.0\.1:\d+)", timeout=30)
        fake = FakeUpstream(proc, m.group(1))
        _wait_healthy(proc, f"{fake.base_url}/health", timeout=30)
        yield fake
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------------
# Lucair on the fakes

LEDGER_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test 1


def lucair_config(fake_port: int, tmp: Path, serve: str = "breaker_cool_down_ms = 1000") -> str:
    """`serve`: the [serve] table's lines. By default a breaker the tests open (they make the fake
    fail) is probed again after a second."""
    return f"""\
[server]
listen = "127.0.0.1:0"
[storage]
url = "sqlite://{tmp}/lucair.sqlite"
[auth]
admin_key = "{ADMIN_KEY}"
[ledger]
signing_key = "{LEDGER_KEY}"
[serve]
{serve}
[[tiers.baseline.deployments]]
name = "fake-local"
kind = "openai_compatible"
url = "http://127.0.0.1:{fake_port}/v1"
model = "ministral-8b"
[[tiers.fast.deployments]]
name = "fake-haiku"
kind = "anthropic"
url = "http://127.0.0.1:{fake_port}"
model = "claude-haiku-4-5"
api_key = "test-key"
[[prices]]
effective = "2026-01-01"
[prices.models."ministral-8b"]
input = 200
output = 1000
[prices.models."claude-haiku-4-5"]
input = 1000
cached_input = 100
cache_write = 1250
output = 5000
"""


class Gateway:
    def __init__(self, proc: ManagedProcess, root_url: str, api_key: str):
        self.proc = proc
        self.root_url = root_url  # http://127.0.0.1:PORT
        self.base_url = root_url + "/v1"
        self.api_key = api_key

    def client(self, **kwargs: Any) -> openai.OpenAI:
        opts: dict[str, Any] = {"base_url": self.base_url, "api_key": self.api_key, "max_retries": 0, "timeout": 60}
        opts.update(kwargs)
        return openai.OpenAI(**opts)

    def http(self, **kwargs: Any) -> httpx.Client:
        """A plain HTTP client on the gateway's root URL, authenticated unless headers say otherwise."""
        headers = {"Authorization": f"Bearer {kwargs.pop('api_key', self.api_key)}"}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.root_url, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)


def _start_gateway(name: str, argv: list[str], log_dir: Path, key: str | None, timeout: float) -> Gateway:
    proc = ManagedProcess(name, argv, log_dir, env=_env())
    try:
        m = proc.wait_for_stdout(r"Base URL: (http://127\.0\.0\.1:\d+)/v1", timeout=timeout)
        root = m.group(1)
        if key is None:
            key = proc.wait_for_stdout(r"API key:\s+(sk-luc-[A-Za-z0-9_\-]+)", timeout=5).group(1)
        _wait_healthy(proc, f"{root}/health", timeout=30)
        return Gateway(proc, root, key)
    except BaseException:
        proc.stop()
        raise


@pytest.fixture(scope="session")
def lucair(fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("lucair")
    config = tmp / "lucair.toml"
    config.write_text(lucair_config(fake_upstream.port, tmp))
    gw = _start_gateway("lucair", [str(_binary("lucair")), "serve", "--config", str(config)], tmp, ADMIN_KEY, timeout=60)
    gw.config_path = config  # the CLI tests administer the same storage
    try:
        yield gw
    finally:
        gw.proc.stop()


@pytest.fixture(scope="session")
def client(lucair: Gateway) -> openai.OpenAI:
    """The official OpenAI client on Lucair-on-fakes (no retries, so errors surface as they are)."""
    return lucair.client()


@pytest.fixture(scope="session")
def http(lucair: Gateway) -> Iterator[httpx.Client]:
    with lucair.http() as c:
        yield c


@pytest.fixture()
def fake(fake_upstream: FakeUpstream) -> FakeUpstream:
    """The fake upstream with its stats cleared for this test."""
    fake_upstream.reset()
    return fake_upstream


# ---------------------------------------------------------------------------------------------
# The embedded default: real llama.cpp + SmolLM2-135M


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("lucair-home")
    argv = [str(_binary("lucair")), "serve", "--home", str(home), "--listen", "127.0.0.1:0"]
    gw = _start_gateway("lucair-embedded", argv, home, None, timeout=180)
    try:
        key_file = (home / "admin.key").read_text().strip()
        assert key_file == gw.api_key, f"printed API key {gw.api_key!r} differs from {home}/admin.key ({key_file!r})"
        yield gw
    finally:
        gw.proc.stop()


@pytest.fixture(scope="session")
def llama_client(embedded: Gateway) -> openai.OpenAI:
    return embedded.client(timeout=120)

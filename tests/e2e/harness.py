"""Starts real `ivr serve` and `ivr call` processes on loopback for end-to-end tests."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO

IVR = [sys.executable, "-m", "ivr"]
KEYPAD_FLOW = REPO / "tests" / "e2e" / "flows" / "keypad_echo.yaml"  # reads keys back; '#' hangs up
_rtp_block = [0]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
            ):
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


@dataclass
class IvrServer:
    """A running `ivr serve` with its own directory, ports and log."""

    proc: subprocess.Popen[bytes]
    root: Path
    sip_port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = 0
    stdout_path: Path | None = None  # stdout apart from the log, when asked for


    @property
    def uri(self) -> str:
        """Where callers dial."""
        return f"sip:ivr@127.0.0.1:{self.sip_port}"

    def log(self) -> str:
        """Everything the server and its workers logged so far."""
        return self.log_path.read_text(errors="replace")

    def stdout(self) -> str:
        """What the server printed on stdout (the log when stdout was not kept apart)."""
        return (self.stdout_path or self.log_path).read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        """The status.json snapshot written every second."""
        return json.loads((self.root / "var/run/status.json").read_text())

    def wait_status(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Poll status.json until `predicate(status)` holds."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.status()
                if predicate(last):
                    return last
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"status never matched; last: {json.dumps(last)}")

    def wait_log(self, text: str, timeout: float = 10.0, count: int = 1) -> None:
        """Wait until `text` appears in the log at least `count` times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged {count} time(s); log tail:\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"ivr serve did not exit within {timeout} s:\n{self.log()[-3000:]}") from None
        return self.proc.returncode


def start_server(
    root: Path,
    workers: int = 2,
    kamailio: bool = True,
    env: dict[str, str] | None = None,
    extra_toml: str = "",
    split_stdout: bool = False,
    start_timeout: float = 0.0,
) -> IvrServer:
    """Start `ivr serve` from a copy of the default config.toml in `root` (plus `extra_toml`), on free ports.

    Its stdout and stderr both go to serve.log, unless `split_stdout` keeps stdout in serve.out.
    `start_timeout` (seconds) replaces the default limit on start-up (benchmarks on a loaded machine).
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.toml", root / "config.toml")
    if extra_toml:  # e.g. [[queues]] and [[agents]] tables, which config.toml leaves out
        with (root / "config.toml").open("a") as f:
            f.write("\n" + extra_toml + "\n")
    sip_port = free_port()
    web_port = free_port(socket.SOCK_STREAM)
    _rtp_block[0] += 1
    rtp_start = 30000 + (os.getpid() % 50) * 400 + (_rtp_block[0] % 10) * 40
    full_env = {
        **os.environ,
        "IVR_SIP__PORT": str(sip_port),
        "IVR_WORKERS__COUNT": str(workers),
        "IVR_WORKERS__BASE_PORT": str(free_port()),
        "IVR_WORKERS__CONTROL_PORT": str(free_port(socket.SOCK_STREAM)),
        "IVR_WORKERS__RTP_PORT_START": str(rtp_start),
        "IVR_WORKERS__RTP_PORTS_PER_WORKER": "20",
        "IVR_KAMAILIO__ENABLED": "true" if kamailio else "false",
        "IVR_KAMAILIO__PING_INTERVAL_SECONDS": "1",
        "IVR_FLOWS__DEFAULT": str(KEYPAD_FLOW),
        "IVR_WEB__PORT": str(web_port),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    if workers > 1:
        # consecutive worker ports: base_port + i must all be free
        base = _free_block(workers)
        full_env["IVR_WORKERS__BASE_PORT"] = str(base)
    log_path = root / "serve.log"
    stdout_path = root / "serve.out" if split_stdout else None
    err = log_path.open("wb")
    out = stdout_path.open("wb") if stdout_path else None
    proc = subprocess.Popen([*IVR, "serve", "--config", str(root / "config.toml")], cwd=root,
                            stdout=out or err, stderr=err, env=full_env)  # fmt: skip
    err.close()  # the child holds its own descriptors
    if out is not None:
        out.close()
    server = IvrServer(proc, root, sip_port, log_path, full_env, int(full_env["IVR_WEB__PORT"]), stdout_path)
    deadline = time.monotonic() + (start_timeout or 60 + 0.5 * workers)
    while "ivr ready on" not in server.stdout():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()  # SIGTERM: it stops its workers too (SIGKILL would orphan them)
            raise AssertionError(f"ivr serve did not start:\n{server.log()[-4000:]}")
        time.sleep(0.1)
    return server


def _free_block(n: int) -> int:
    for _ in range(200):
        base = free_port()
        try:
            socks = []
            for i in range(n):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of ports")


def run_call(
    uri: str, *steps: str, record: Path | None = None, max_seconds: float = 30, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run `ivr call` to completion and return its JSON timeline."""
    args = [*IVR, "call", uri, "--max-seconds", str(max_seconds), *extra]
    for step in steps:
        args += ["--step", step]
    if record is not None:
        args += ["--record", str(record)]
    proc = subprocess.run(args, capture_output=True, timeout=max_seconds + 30, cwd=REPO)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"ivr call printed no JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]!r}\n{proc.stderr[-3000:]!r}"
        ) from None


def start_call(uri: str, *steps: str, max_seconds: float = 30, extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """Start `ivr call` in the background (use `finish_call` to collect its timeline)."""
    args = [*IVR, "call", *([uri] if uri else []), "--max-seconds", str(max_seconds), *extra]
    for step in steps:
        args += ["--step", step]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)


def wait_listening(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Block until an `ivr call --listen` process has bound its port and says so."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("listening on"):
        proc.kill()
        err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        raise AssertionError(f"ivr call --listen did not start: {line!r} {err}")


def finish_call(proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, Any]:
    """Wait for a background `ivr call` and parse its JSON."""
    out, err = proc.communicate(timeout=timeout)
    text = out.decode()
    start = text.find("{")
    if start < 0:
        raise AssertionError(
            f"ivr call printed no JSON (exit {proc.returncode}):\n{text[-2000:]}\n{err.decode()[-3000:]}"
        )
    return json.loads(text[start:])


def events(timeline: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Timeline events of one kind."""
    return [e for e in timeline["events"] if e["event"] == name]

"""Where the one pyttsx3 engine runs: a child process (default) or a thread of this process.

Both are driven from a single thread (pyttsx3 is not thread-safe). `render` hands each block of PCM
to a sink as it arrives, so the caller can start playback before a sentence is complete, and stops
early when the sink is cancelled (barge-in), so abandoned audio does not delay the next reply.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import select
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from ivr.core.errors import SynthesisError
from tts._espeak_worker import Renderer, RenderError, VoiceSettings

log = logging.getLogger("tts.pyttsx3_engine")


class Sink(Protocol):
    """Receives the blocks of one render; `cancelled` turns true when nobody will play them."""

    @property
    def cancelled(self) -> bool: ...

    def emit(self, block: bytes) -> None: ...


class _Discard:
    cancelled = False

    def emit(self, block: bytes) -> None:
        pass


_DISCARD = _Discard()


class EngineWorker(Protocol):
    """One engine; every method is called from the same thread."""

    def open(self, settings: VoiceSettings) -> dict[str, Any]: ...

    def render(self, text: str, rate: int, settings: VoiceSettings, sink: Sink) -> None: ...

    def close(self) -> None: ...


class _WorkerLost(Exception):
    """The child process died or stopped answering."""


class ProcessWorker:
    """Drives `tts._espeak_worker` in a child process, restarting it if it hangs or dies."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._ids = itertools.count(1)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if any."""
        return self._proc.pid if self._proc else None

    def open(self, settings: VoiceSettings) -> dict[str, Any]:
        """Start the child and the engine in it; returns the engine version and voices."""
        try:
            return json.loads(self._request({"op": "open", "settings": vars(settings)}, _DISCARD, 3 * self._timeout))
        except _WorkerLost as exc:
            raise SynthesisError(
                f"the espeak-ng worker process failed to start ({exc}); "
                f"check that `{sys.executable} -m tts._espeak_worker` runs"
            ) from None

    def render(self, text: str, rate: int, settings: VoiceSettings, sink: Sink) -> None:
        """Synthesize `text`; a hung or crashed child is replaced and the request retried once."""
        req = {"op": "render", "text": text, "rate": rate, "settings": vars(settings)}
        # espeak-ng runs far faster than real time; this only catches a worker that is stuck.
        timeout = self._timeout + len(text) / 20
        tracking = _Tracking(sink)
        for attempt in (1, 2):
            try:
                self._request(dict(req, id=next(self._ids)), tracking, timeout)
                return
            except _WorkerLost as exc:
                self.restarts += 1
                log.warning("espeak-ng worker lost (%s); restarted it", exc)
                if tracking.emitted or attempt == 2:
                    raise SynthesisError(
                        f"the espeak-ng worker process failed on {text[:60]!r} ({exc}); it has been restarted"
                    ) from None

    def close(self) -> None:
        """Stop the child: it exits when its stdin closes."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def _spawn(self) -> subprocess.Popen[bytes]:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tts._espeak_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        threading.Thread(target=self._drain, args=(proc,), name="tts-espeak-stderr", daemon=True).start()
        return proc

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self._stderr_tail.append(line)
                    log.warning("espeak-ng worker: %s", line)
        except (OSError, ValueError):
            pass  # closed while reading: the worker is being stopped

    def _request(self, req: dict[str, Any], sink: Sink, timeout: float) -> bytes:
        if self._proc is None:
            self._proc = self._spawn()
            if req["op"] != "open":
                self._request({"op": "open", "settings": req["settings"]}, _DISCARD, 3 * self._timeout)
        proc = self._proc
        assert proc.stdin is not None
        try:
            self._send(proc, req)
            cancel_sent = False
            while True:
                header = self._read(proc, 5, timeout)
                payload = self._read(proc, int.from_bytes(header[1:], "big"), timeout)
                if header[:1] != b"D":
                    break
                if not sink.cancelled:
                    sink.emit(payload)
                elif not cancel_sent:
                    self._send(proc, {"op": "cancel", "id": req.get("id")})
                    cancel_sent = True
        except (_WorkerLost, OSError, ValueError) as exc:  # ValueError: its pipes were already closed
            self._kill(proc)
            raise _WorkerLost(str(exc) or type(exc).__name__) from None
        if header[:1] != b"O":
            raise SynthesisError(payload.decode(errors="replace"))
        return payload

    @staticmethod
    def _send(proc: subprocess.Popen[bytes], msg: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(msg).encode() + b"\n")
        proc.stdin.flush()

    def _read(self, proc: subprocess.Popen[bytes], n: int, timeout: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        chunks: list[bytes] = []
        while n > 0:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise _WorkerLost(f"no answer within {timeout:.1f} s")
            data = os.read(fd, min(n, 1 << 20))
            if not data:
                code = proc.wait()
                tail = " | ".join(list(self._stderr_tail)[-3:])
                raise _WorkerLost(f"exited with code {code}" + (f": {tail}" if tail else ""))
            chunks.append(data)
            n -= len(data)
        return b"".join(chunks)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass  # closing stdin flushes what the dead worker will never read (broken pipe)
        if self._proc is proc:
            self._proc = None


class ThreadWorker:
    """Drives the engine in this process; espeak-ng allows one per process, so all instances share it."""

    # The one thread every in-process engine call must run on.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-pyttsx3")
    _renderer: Renderer | None = None

    def open(self, settings: VoiceSettings) -> dict[str, Any]:
        """Start the engine (once per process) and check `settings`."""
        try:
            return self._shared().open(settings)
        except RenderError as exc:
            raise SynthesisError(str(exc)) from None

    def render(self, text: str, rate: int, settings: VoiceSettings, sink: Sink) -> None:
        """Synthesize `text`, handing over blocks as they are resampled."""
        try:
            for block in self._shared().render(text, rate, settings):
                if sink.cancelled:
                    break
                sink.emit(block)
        except RenderError as exc:
            raise SynthesisError(str(exc)) from None

    def close(self) -> None:
        """Nothing to stop: the engine lives as long as the process."""

    @classmethod
    def _shared(cls) -> Renderer:
        if cls._renderer is None:
            cls._renderer = Renderer()
        return cls._renderer


class _Tracking:
    """Passes blocks on and remembers whether any went out (then a retry would repeat audio)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.emitted = False

    @property
    def cancelled(self) -> bool:
        return self._sink.cancelled

    def emit(self, block: bytes) -> None:
        self.emitted = True
        self._sink.emit(block)

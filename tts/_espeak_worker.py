"""The pyttsx3 espeak-ng engine of one process, and the child-process loop that serves it over pipes.

Run as `python -m tts._espeak_worker`: requests are JSON lines on stdin; `{"op": "cancel", "id": ...}`
stops a render between blocks. Replies are frames of
`kind(1 byte) + length(4 bytes, big-endian) + payload` on the original stdout: any number of `D`
(a block of PCM16), then one `O` (done; JSON for `open`) or `E` (a UTF-8 error message).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ivr.core.audio import Resampler

BLOCK_MS = 200  # audio per streamed block: small enough for fast first audio, large enough to be cheap
ESPEAK_INSTALL_HINT = "install it with `apt-get install espeak-ng` (Debian/Ubuntu) or your OS package manager"


class RenderError(Exception):
    """The engine refused a request; the message says why and how to fix it."""


@dataclass(frozen=True)
class VoiceSettings:
    """Voice, speaking rate (words per minute) and volume (0..1) of an engine."""

    voice: str
    wpm: int
    volume: float


class Renderer:
    """Owns this process's one pyttsx3 espeak engine; call it from one thread only."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._errors: list[BaseException] = []
        self._applied: VoiceSettings | None = None
        # /dev/shm keeps the engine's intermediate WAV off the disk.
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self._dir = tempfile.mkdtemp(prefix="ivr-tts-", dir=base)
        self._wav = os.path.join(self._dir, "out.wav")
        self.version = ""

    def open(self, settings: VoiceSettings) -> dict[str, Any]:
        """Start the engine with `settings`; returns the engine version and the voices available."""
        if self._engine is None:
            self._engine = self._init_engine()
        voices = sorted(v.id for v in self._engine.getProperty("voices"))
        try:
            self._run("Ready.", settings)  # also warms the engine: the first synthesis is the slowest
        except RenderError as exc:
            raise RenderError(
                f"espeak-ng cannot speak with voice {settings.voice!r} ({exc}); {_voice_hint(settings.voice, voices)}"
            ) from None
        return {"version": self.version, "voices": voices}

    def render(self, text: str, rate: int, settings: VoiceSettings) -> Iterator[bytes]:
        """Speak `text` as blocks of PCM16 mono at `rate` Hz, the first one as soon as it is ready."""
        if self._engine is None:
            self.open(settings)
        pcm, src_rate = self._run(text, settings)
        # Resampling costs several times more than espeak-ng itself, so it is done block by block:
        # playback can start after the first block instead of after the whole sentence.
        resampler = Resampler(src_rate, rate)
        step = 2 * src_rate * BLOCK_MS // 1000
        for start in range(0, len(pcm), step):
            block = resampler.process(pcm[start : start + step])
            if block:
                yield block
        tail = resampler.process(b"", final=True)
        if tail:
            yield tail

    def _run(self, text: str, settings: VoiceSettings) -> tuple[bytes, int]:
        engine = self._engine
        self._errors.clear()
        # Applied with every utterance, queued with it so one driver loop applies them (a loop of
        # its own would re-speak the driver's previous text). pyttsx3.init() shares one engine
        # per process, so other users may have changed them since our last utterance.
        engine.setProperty("voice", settings.voice)
        engine.setProperty("rate", settings.wpm)
        engine.setProperty("volume", settings.volume)
        if os.path.exists(self._wav):
            os.unlink(self._wav)
        engine.save_to_file(text, self._wav)
        engine.runAndWait()
        if self._errors:
            self._applied = None
            raise RenderError(f"espeak-ng failed ({self._errors[0]})")
        self._applied = settings
        try:
            with wave.open(self._wav, "rb") as w:
                return w.readframes(w.getnframes()), w.getframerate()
        except (OSError, wave.Error, EOFError) as exc:
            raise RenderError(f"espeak-ng produced no audio for {text[:60]!r} ({exc})") from exc

    def close(self) -> None:
        """Remove the scratch directory."""
        shutil.rmtree(self._dir, ignore_errors=True)

    def _init_engine(self) -> Any:
        try:
            import pyttsx3
            import pyttsx3.drivers.espeak as driver
        except ImportError as exc:
            raise RenderError(f"pyttsx3 is not installed ({exc}); run `pip install 'pyttsx3>=2.99'`") from exc
        except (RuntimeError, OSError) as exc:
            raise RenderError(
                f"espeak-ng library (libespeak-ng.so.1) not found ({exc}); {ESPEAK_INSTALL_HINT}"
            ) from exc
        # The driver prints "Audio saved to ..." after every file; keep it off our stdout.
        driver.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]
        try:
            engine = pyttsx3.init("espeak")
        except Exception as exc:
            raise RenderError(f"espeak-ng did not start ({exc}); {ESPEAK_INSTALL_HINT}") from exc
        engine.connect("error", lambda name=None, exception=None: self._errors.append(exception))
        info = driver._espeak.Info()
        self.version = info.decode() if isinstance(info, bytes) else str(info)
        return engine


def _voice_hint(voice: str, voices: list[str]) -> str:
    lang = voice.split("/")[-1].split("-")[0].lower()
    close = [v for v in voices if v.split("/")[-1].split("-")[0] == lang]
    shown = close or voices[:20]
    more = "" if len(shown) == len(voices) else f" (and {len(voices) - len(shown)} more)"
    return f"set [tts] voice in config.toml to one of: {', '.join(shown)}{more}; `espeak-ng --voices` lists them all"


def _reply(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(kind + len(payload).to_bytes(4, "big") + payload)
    out.flush()


class _Requests:
    """JSON request lines from a pipe, readable without blocking between blocks of a render."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = b""
        self.closed = False

    def next(self, wait: bool) -> dict[str, Any] | None:
        """The next request; None at end of input, or at once when `wait` is False and none is ready."""
        while b"\n" not in self._buf:
            if self.closed or (not wait and not select.select([self._fd], [], [], 0)[0]):
                return None
            data = os.read(self._fd, 65536)
            if not data:
                self.closed = True
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)


def _cancelled(requests: _Requests, req_id: object) -> bool:
    """Whether the parent has cancelled request `req_id` (the caller barged in or hung up)."""
    while (msg := requests.next(wait=False)) is not None:
        if msg.get("op") == "cancel" and msg.get("id") == req_id:
            return True
    return False


def _serve(requests: _Requests, out: BinaryIO) -> None:
    renderer = Renderer()
    try:
        while (req := requests.next(wait=True)) is not None:
            if req["op"] == "cancel":
                continue  # arrived after its request finished
            settings = VoiceSettings(**req["settings"])
            try:
                payload = b""
                if req["op"] == "open":
                    payload = json.dumps(renderer.open(settings)).encode()
                else:
                    for block in renderer.render(req["text"], int(req["rate"]), settings):
                        _reply(out, b"D", block)
                        if _cancelled(requests, req.get("id")):
                            break
            except RenderError as exc:
                _reply(out, b"E", str(exc).encode())
            except Exception as exc:
                _reply(out, b"E", f"espeak-ng worker error: {type(exc).__name__}: {exc}".encode())
            else:
                _reply(out, b"O", payload)
    finally:
        renderer.close()


def main() -> None:
    """Serve requests until stdin closes (the parent went away)."""
    out = os.fdopen(os.dup(1), "wb")
    # Anything the libraries print must never corrupt the reply stream.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")
    _serve(_Requests(sys.stdin.fileno()), out)


if __name__ == "__main__":
    main()

"""Media ports of a worker call leg: capture ports and a queue of file players.

Playback goes through pjmedia's own WAV player, so the 20 ms media clock never calls
Python to send audio. Capture ports run Python on the media clock thread: they only copy
the frame and append it to a deque (thread-safe append); the worker's pump drains them.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj

from telephony.pjthread import vector_bytes

log = logging.getLogger(__name__)


class CapturePort(pj.AudioMediaPort):
    """A conference port that copies every frame it receives into `frames`."""

    def __init__(self, name: str, rate: int) -> None:
        super().__init__()
        self.rate = rate
        self.frames: collections.deque[bytes] = collections.deque(maxlen=500)  # 10 s cap
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = rate
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self.frames.append(vector_bytes(frame.buf))


def destroy_now(media: pj.AudioMediaPort | pj.AudioMediaPlayer | None) -> None:
    """Destroy a Python-subclassed media port's C++ side now, on the pjsua2 thread.

    Left to garbage collection, Python first clears the object's attributes and then runs
    the C++ destructor, which releases the GIL while it waits to leave the conference bridge.
    The media clock can call the half-dead object in that gap (seen: AttributeError on
    `frames`, then a segfault under 30 concurrent calls). Destroying it explicitly while it is
    whole closes the gap; SWIG's delete disowns the pointer, so it is not deleted twice.
    """
    if media is None:
        return
    destroy = type(media).__swig_destroy__
    destroy(media)


class _Player(pj.AudioMediaPlayer):
    def __init__(self, on_eof: Callable[[], None]) -> None:
        super().__init__()
        self._on_eof = on_eof

    def onEof2(self) -> None:
        # Media thread: must not destroy the player here; hand over and return.
        self._on_eof()


@dataclass
class _Item:
    playback_id: str
    path: Path


class Playlist:
    """Audio queued for one call leg, played in order to a set of sinks."""

    def __init__(
        self,
        spool: Path,
        post: Callable[[Callable[[], None]], None],
        emit: Callable[[str, str, bool], None],
    ) -> None:
        self._spool = spool
        self._post = post  # runs a callable on the pjsua2 thread
        self._emit = emit  # (event type, playback id, interrupted)
        self._items: collections.deque[_Item] = collections.deque()
        self._player: _Player | None = None
        self._current: _Item | None = None
        self._sinks: list[pj.AudioMedia] = []

    def set_sinks(self, sinks: list[pj.AudioMedia]) -> None:
        """Where playback goes (the call's audio, the outbound tap); starts queued audio."""
        self._sinks = sinks
        if self._player is not None:
            for sink in sinks:
                self._player.startTransmit(sink)
        self._advance()

    def add(self, playback_id: str, pcm: bytes, rate: int) -> None:
        """Queue PCM16 audio (written to a spool WAV so pjmedia can play it at its own pace)."""
        path = self._spool / f"{playback_id}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        self._items.append(_Item(playback_id, path))
        self._advance()

    def stop(self) -> None:
        """Stop the current item and drop all queued ones, each reported as interrupted."""
        items = list(self._items)
        self._items.clear()
        if self._current is not None:
            self._finish(interrupted=True)
        for item in items:
            _unlink(item.path)
            self._emit("playback_done", item.playback_id, True)

    def _advance(self) -> None:
        if self._current is not None or not self._items or not self._sinks:
            return
        item = self._items.popleft()
        player = _Player(functools.partial(self._eof_from_media_thread, item.playback_id))
        try:
            player.createPlayer(str(item.path), pj.PJMEDIA_FILE_NO_LOOP)
            for sink in self._sinks:
                player.startTransmit(sink)
        except pj.Error as exc:
            log.error("cannot play %s: %s", item.path, exc.info())
            _unlink(item.path)
            self._emit("playback_done", item.playback_id, True)
            self._advance()
            return
        self._player, self._current = player, item
        self._emit("playback_started", item.playback_id, False)

    def _eof_from_media_thread(self, playback_id: str) -> None:
        self._post(lambda: self._on_eof(playback_id))

    def _on_eof(self, playback_id: str) -> None:
        if self._current is not None and self._current.playback_id == playback_id:
            self._finish(interrupted=False)
            self._advance()

    def _finish(self, interrupted: bool) -> None:
        item, player = self._current, self._player
        # Destroying the player removes its conference port and with it every connection.
        # (stopTransmit to a call whose media is already gone trips a pjsua assertion.)
        self._player, self._current = None, None
        destroy_now(player)
        if item is not None:
            _unlink(item.path)
            self._emit("playback_done", item.playback_id, interrupted)


def disconnect(source: pj.AudioMedia | None, sink: pj.AudioMedia | None) -> None:
    """stopTransmit that is safe when either port is already gone (pjsua asserts otherwise)."""
    if source is None or sink is None:
        return
    if source.getPortId() < 0 or sink.getPortId() < 0:
        return
    try:
        source.stopTransmit(sink)
    except pj.Error:
        pass


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def spool_dir(prefix: str) -> Path:
    """A new directory for playback files, readable by this user only (mkdtemp without importing tempfile)."""
    path = Path(os.environ.get("TMPDIR") or "/tmp") / f"{prefix}{os.getpid()}-{os.urandom(4).hex()}"
    path.mkdir(mode=0o700)
    return path

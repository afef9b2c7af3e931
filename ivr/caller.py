"""`ivr call`: a scripted caller for tests, benchmarks and checking any SIP server.

    ivr call sip:ivr@127.0.0.1:5060 --step "quiet dtmf 1" --step "+2 say order status" \
        --step "quiet hangup" --record heard.wav

A step is `WHEN ACTION [ARG]`. WHEN is seconds after answer (`4.0`), seconds after the
previous step (`+1.5`), or `quiet`: once the IVR has spoken and then been silent for
--quiet-ms. ACTION is play FILE, say TEXT, dtmf DIGITS, info DIGITS (SIP INFO), wait, hangup.
It prints a JSON timeline (answered, prompt_start/prompt_end, each input, hangup) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.core.errors import IvrError

_SPEECH_DBFS = -40.0  # a frame this loud is the IVR speaking
_ACTIONS = ("play", "say", "dtmf", "info", "wait", "hangup")


@dataclass(frozen=True)
class Step:
    """One scripted input."""

    when: str  # "quiet", "+N" or "N"
    action: str
    arg: str = ""

    @staticmethod
    def parse(text: str) -> Step:
        """Parse `WHEN ACTION [ARG]`."""
        parts = text.strip().split(None, 2)
        if len(parts) < 2 or parts[1] not in _ACTIONS:
            raise IvrError(f"bad step {text!r}: write WHEN ACTION [ARG], ACTION one of {', '.join(_ACTIONS)}")
        when = parts[0]
        if when != "quiet":
            try:
                float(when.lstrip("+"))
            except ValueError as exc:
                raise IvrError(f"bad step {text!r}: WHEN must be seconds, +seconds or 'quiet'") from exc
        arg = parts[2] if len(parts) > 2 else ""
        if parts[1] in ("play", "say", "dtmf", "info") and not arg:
            raise IvrError(f"bad step {text!r}: {parts[1]} needs an argument")
        if parts[1] == "play":
            from ivr.core.audio import read_wav

            read_wav(arg)  # unreadable or missing audio fails now, with the file named, not mid-call
        return Step(when, parts[1], arg)


class _Listener:
    """Turns received frames into prompt_start / prompt_end events and a recording."""

    def __init__(self, quiet_ms: int, rate: int) -> None:
        self.quiet_s = quiet_ms / 1000
        self.rate = rate
        self.speaking = False
        self.last_loud = 0.0
        self.prompts_heard = 0
        self.audio: list[bytes] = []
        from ivr.core.audio import rms_dbfs  # numpy: imported only by callers, not by `ivr worker`

        self._level = rms_dbfs

    def feed(self, at: float, frame: bytes) -> str | None:
        self.audio.append(frame)
        loud = self._level(frame) > _SPEECH_DBFS
        if loud:
            self.last_loud = at
            if not self.speaking:
                self.speaking = True
                return "prompt_start"
        elif self.speaking and at - self.last_loud >= self.quiet_s:
            self.speaking = False
            self.prompts_heard += 1
            return "prompt_end"
        return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `ivr call`."""
    p.add_argument("uri", nargs="?", help="SIP URI to call (omit with --listen)")
    p.add_argument("--step", action="append", default=[], help="WHEN ACTION [ARG]; repeatable")
    p.add_argument("--record", help="write what the caller heard to this WAV file")
    p.add_argument("--timeline", help="also write the JSON timeline to this file")
    p.add_argument("--bind", default="127.0.0.1", help="local address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="local SIP port (default: any free port)")
    p.add_argument("--rate", type=int, default=16000, choices=(8000, 16000), help="recording rate")
    p.add_argument("--quiet-ms", type=int, default=800, help="silence that ends a prompt (default 800)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="hang up after this long (default 60)")
    p.add_argument("--header", action="append", default=[], help="extra INVITE header 'Name: value'")
    p.add_argument("--codec", action="append", default=[], help="offer only these codecs (PCMU, PCMA, G722)")
    p.add_argument("--listen", action="store_true", help="wait for one incoming call instead of dialling")
    p.add_argument("--answer-code", type=int, default=200, help="with --listen: 200, or e.g. 486 to refuse")
    p.add_argument("--answer-after", type=float, default=0.0, help="with --listen: ring this long first")
    p.add_argument("--tts-voice", default="en-us", help="espeak-ng voice for `say` steps")
    p.add_argument("--user", default="caller", help="user part of the From URI: the caller ID (default caller)")


def main(args: argparse.Namespace) -> int:
    """Run the scripted call; prints the timeline JSON. Exit 0 if the call was answered."""
    from telephony.softphone import Softphone

    steps = [Step.parse(s) for s in args.step]
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    phone = Softphone(args.bind, args.port, args.rate, tuple(args.codec), user=args.user)
    phone.start()
    t0 = time.monotonic()
    timeline: list[dict[str, Any]] = []

    def note(event: str, at: float | None = None, **extra: Any) -> None:
        timeline.append({"t": round((at or time.monotonic()) - t0, 3), "event": event, **extra})

    listener = _Listener(args.quiet_ms, args.rate)
    import tempfile  # here, not at the top: `ivr worker` builds the same parser and should not load it

    tmp = Path(tempfile.mkdtemp(prefix="ivr-call-"))
    try:
        if args.listen:
            print(f"listening on sip:{args.bind}:{phone.port}", flush=True)
            phone.set_answer(args.answer_code)
            remote = phone.incoming.get(timeout=args.max_seconds)
            note("incoming", remote=remote, headers=phone.state.headers, wall=round(time.time(), 6))
            time.sleep(args.answer_after)
            phone.answer()
        else:
            if not args.uri:
                raise IvrError("give a SIP URI to call, or --listen")
            note("dialing", uri=args.uri)
            phone.dial(args.uri, headers)
        _run(phone, steps, listener, note, args, tmp)
    finally:
        phone.stop()
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()
    st = phone.state
    result = {
        "answered": st.answered_at is not None,
        "codec": st.codec,
        "end_code": st.end_code,
        "end_reason": st.end_reason,
        "ended_by": st.ended_by,
        "prompts_heard": listener.prompts_heard,
        "heard_seconds": round(len(listener.audio) * 0.02, 2),
        "headers": st.headers,
        "dtmf_received": "".join(d for _, d in st.dtmf),
        "referred_to": st.referred_to,
        "refused_calls": st.refused,
        "retry_after": st.retry_after,
        "events": timeline,
    }
    if args.record:
        from ivr.core.audio import write_wav

        write_wav(args.record, b"".join(listener.audio), args.rate)
    text = json.dumps(result, indent=1)
    if args.timeline:
        Path(args.timeline).write_text(text)
    print(text)
    return 0 if result["answered"] else 1


def _run(phone: Any, steps: list[Step], listener: _Listener, note: Any, args: argparse.Namespace, tmp: Path) -> None:
    st = phone.state
    deadline = time.monotonic() + args.max_seconds
    while st.answered_at is None and st.ended_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if st.answered_at is None:
        note("failed", code=st.end_code, reason=st.end_reason, retry_after=st.retry_after)
        if st.end_code:  # a refusal says why on stderr; the JSON on stdout stays parseable
            later = f"; the server asks to retry after {st.retry_after} s" if st.retry_after is not None else ""
            print(f"ivr call: refused with {st.end_code} {st.end_reason}{later}", file=sys.stderr, flush=True)
        return
    note("answered", st.answered_at, codec=st.codec)
    deadline = st.answered_at + args.max_seconds
    pending = list(steps)
    step_ready_at = st.answered_at
    prompts_at_step = 0
    playing: Any = None
    while st.ended_at is None and time.monotonic() < deadline:
        while phone.frames:
            at, frame = phone.frames.popleft()
            change = listener.feed(at, frame)
            if change:
                note(change, at)
        now = time.monotonic()
        if playing is not None and playing.is_set():
            note("play_end")
            playing = None
        if (
            pending
            and playing is None
            and _due(pending[0], now, st.answered_at, step_ready_at, listener, prompts_at_step)
        ):
            step = pending.pop(0)
            playing = _act(phone, step, note, args, tmp)
            step_ready_at = time.monotonic()
            prompts_at_step = listener.prompts_heard
            if step.action == "hangup":
                break
        time.sleep(0.005)
    if st.ended_at is None:
        if time.monotonic() >= deadline:
            note("timeout")
        phone.hangup()
        phone.done.wait(3)
    while phone.frames:
        at, frame = phone.frames.popleft()
        listener.feed(at, frame)
    if st.ended_at is not None:
        note("hangup", st.ended_at, by=st.ended_by, code=st.end_code)


def _due(step: Step, now: float, answered: float, ready: float, listener: _Listener, prompts_at_step: int) -> bool:
    if step.when == "quiet":
        return listener.prompts_heard > prompts_at_step and not listener.speaking
    if step.when.startswith("+"):
        return now >= ready + float(step.when[1:])
    return now >= answered + float(step.when)


def _act(phone: Any, step: Step, note: Any, args: argparse.Namespace, tmp: Path) -> Any:
    if step.action in ("dtmf", "info"):
        note("dtmf_sent", digits=step.arg, method="info" if step.action == "info" else "rfc4733")
        for digit in step.arg:  # one at a time, like a person on a keypad
            phone.send_dtmf(digit, "info" if step.action == "info" else "rfc4733")
            time.sleep(0.25)
        return None
    if step.action == "play":
        note("play_start", file=step.arg)
        return phone.play(step.arg)
    if step.action == "say":
        path = tmp / f"say{len(list(tmp.iterdir()))}.wav"
        _synthesize(step.arg, path, args.tts_voice)
        note("play_start", say=step.arg)
        return phone.play(str(path))
    if step.action == "hangup":
        note("hangup_sent")
        phone.hangup()
        phone.done.wait(3)
    return None


def _synthesize(text: str, path: Path, voice: str) -> None:
    import asyncio

    from ivr.core.config import TtsConfig
    from tts.pyttsx3_engine import Pyttsx3Synthesizer

    async def run() -> bytes:
        async with Pyttsx3Synthesizer(TtsConfig(voice=voice), worker="thread") as tts:
            return await tts.synthesize(text, 16000)

    from ivr.core.audio import write_wav

    pcm = asyncio.run(run())
    if not pcm:  # pjsua2 once refused a say file as "not a valid WAVE" (3 test workers busy): likely empty audio
        pcm = asyncio.run(run())
    if not pcm:
        raise IvrError(f"espeak-ng gave no audio for {text!r} twice: check `espeak-ng {text!r}` works on this machine")
    write_wav(path, pcm, 16000)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(argparse.Namespace()))

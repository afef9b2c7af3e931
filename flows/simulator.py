"""`ivr flows simulate`: talk to a flow in the terminal, seeing prompts, intents and variables."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TextIO

from flows.conversation import Conversation
from flows.http_step import perform
from flows.runner import FlowRunner
from ivr.core.events import (
    Event,
    HangupRequested,
    HttpRequest,
    HttpResult,
    IntentDetected,
    Listen,
    LookupRequest,
    LookupResult,
    Play,
    RecordVoicemail,
    Say,
    TransferRequested,
)

HELP = """Type what the caller says and press Enter.
  #123 or 'dtmf 123'   press keys
  (empty line)          stay silent until the no-input timer fires
  /vars                 show all variables
  /hangup               hang up
  /quit                 leave the simulator"""


def _real_http(request: HttpRequest) -> HttpResult:
    return asyncio.run(perform(request))


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


class Simulator:
    """A terminal session with one flow; reads caller lines from `stdin`, writes what happens to `stdout`."""

    def __init__(self, runner: FlowRunner, stdin: TextIO, stdout: TextIO, http_live: bool = True) -> None:
        self.talk = Conversation(runner, call_id="sim-1", http=_real_http if http_live else None)
        self.stdin, self.stdout = stdin, stdout
        self._shown: dict[str, Any] = {}

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _show(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, Say):
                self._print(f"IVR: {e.text}")
            elif isinstance(e, Play):
                self._print(f"IVR: [plays {e.path}]")
            elif isinstance(e, IntentDetected):
                others = ", ".join(f"{n} {c:.2f}" for n, c in e.ranked[1:])
                what = e.intent or "no match"
                self._print(f"  [{e.source}: {what} {e.confidence:.2f}" + (f"; then {others}]" if others else "]"))
            elif isinstance(e, Listen):
                how = "+".join(x for x, on in (("speech", e.speech), ("dtmf", e.dtmf)) if on)
                self._print(f"  [listening: {how}, {e.timeout:g} s timeout]")
            elif isinstance(e, LookupRequest):
                self._print(f"  [lookup {e.source} {e.key!r}]")
            elif isinstance(e, LookupResult):
                self._print(f"  [lookup {'found ' + e.record if e.found else 'not found'}]")
            elif isinstance(e, HttpRequest):
                self._print(f"  [http {e.method} {e.url}]")
            elif isinstance(e, HttpResult):
                self._print(f"  [http status {e.status}{' ' + e.error if e.error else ''}]")
            elif isinstance(e, RecordVoicemail):
                self._print(f"  [recording voicemail for {e.mailbox}, up to {e.max_seconds:g} s]")
            elif isinstance(e, TransferRequested):
                skills = f" skills={','.join(e.skills)}" if e.skills else ""
                self._print(f"  [transfer to queue {e.queue} priority {e.priority}{skills}; reason: {e.reason}]")
            elif isinstance(e, HangupRequested):
                self._print(f"  [hangup: {e.reason}]")
        self._show_vars()

    def _show_vars(self, everything: bool = False) -> None:
        state = self.talk.state
        if state is None:
            return
        flat = {k: v for k, v in _flat(dict(state.variables)).items() if not k.startswith("visits.")}
        changed = flat if everything else {k: v for k, v in flat.items() if self._shown.get(k) != v}
        self._shown = flat
        for k, v in changed.items():
            if everything or k not in ("call_id", "flow", "caller", "callee"):
                self._print(f"  [var] {k} = {json.dumps(v)}")
        self._shown = flat

    def run(self) -> int:
        """Read caller lines until the call ends or input runs out."""
        flow = self.talk.runner.flow
        self._print(f"Simulating {flow.version}. {HELP}\n")
        self._show(self.talk.start())
        while self.talk.state is not None and not self.talk.state.done:
            self.stdout.write("caller> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self._print("")
                break
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if text == "/vars":
                self._show_vars(everything=True)
                continue
            if text == "/hangup":
                self._show(self.talk.hangup())
            elif text.startswith("#") or text.lower().startswith("dtmf "):
                keys = text[1:] if text.startswith("#") else text[5:]
                self._show(self.talk.press("".join(keys.split())))
            elif not text:
                self._print("  [silence]")
                self._show(self.talk.silence())
            else:
                self._show(self.talk.say(text))
        state = self.talk.state
        if state is not None and state.done:
            self._print(f"[call ended: {state.ended_by}]")
        return 0

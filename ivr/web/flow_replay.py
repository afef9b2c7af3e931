"""Replaying recorded calls through a draft: the regression check before a publish.

Each call's caller inputs (recognized text and keys, in order) go through the version the call ran and
through the draft, both with the pure runner, so a difference comes from the flow change alone, not from
speech recognition or the data. Silences are not stored with a call, so replays have none.
"""

from __future__ import annotations

from flows import FlowRunner
from ivr.core.events import IntentDetected, TransferRequested
from ivr.storage.flow_stats import RecordedCall
from ivr.web.flow_models import Outcome, ReplayCall
from ivr.web.flow_sim import Lookup, TestCall

KEYS = "[keys] "


def _masked(text: str) -> bool:
    return text.startswith("[redacted")


async def _run(runner: FlowRunner, call: RecordedCall, lookup: Lookup) -> tuple[TestCall, list[str], int]:
    """Feed the call's inputs until they run out, one is masked, or the call ends; the step after each."""
    talk = TestCall(runner, lookup, call_id=f"replay-{call.call_id}", answer_http=True)
    await talk.start()
    path = [talk.state.step if talk.state else ""]
    fed = 0
    for item in call.inputs:
        text = item.text.strip()
        if not text:
            continue
        if _masked(text) or talk.state is None or talk.state.done:
            break
        if text.startswith(KEYS):
            await talk.press(text[len(KEYS) :].replace(" ", ""), submit=True)
        else:
            await talk.say(text, item.confidence if item.confidence is not None else 1.0)
        fed += 1
        path.append(talk.state.step if talk.state else "")
    return talk, path, fed


def _outcome(talk: TestCall, path: list[str]) -> Outcome:
    state = talk.state
    assert state is not None
    intents = [e.intent for e in talk.log if isinstance(e, IntentDetected) and e.intent]
    transfers = [e for e in talk.log if isinstance(e, TransferRequested)]
    return Outcome(step=state.step, intent=intents[-1] if intents else "", transfer=bool(transfers),
                   queue=transfers[-1].queue if transfers else "", ended_by=state.ended_by,
                   path=path)  # fmt: skip


def _changes(before: Outcome, after: Outcome, label: str) -> list[str]:
    out = []
    if before.step != after.step:
        out.append(f"ends at step '{after.step}' instead of '{before.step}'")
    if before.intent != after.intent:
        out.append(f"last intent {after.intent or 'none'} instead of {before.intent or 'none'}")
    if before.transfer != after.transfer:
        out.append(f"now transfers to queue {after.queue}" if after.transfer else
                   f"no longer transfers (was queue {before.queue})")  # fmt: skip
    elif before.queue != after.queue:
        out.append(f"transfers to queue {after.queue} instead of {before.queue}")
    if before.ended_by != after.ended_by and not (before.transfer != after.transfer):
        out.append(f"call {'ends by ' + after.ended_by if after.ended_by else 'still goes on'} "
                   f"({label}: {before.ended_by or 'still going on'})")  # fmt: skip
    return out


def _parted(before: Outcome, after: Outcome, inputs: list[str], label: str) -> str:
    for i, (a, b) in enumerate(zip(before.path, after.path, strict=False)):
        if a != b:
            where = "at the start" if i == 0 else f"after input {i} ({inputs[i - 1]!r})"
            return f"{where}: {label} waits at '{a}', the draft at '{b}'"
    if len(before.path) != len(after.path):
        i = min(len(before.path), len(after.path)) - 1
        shorter = label if len(before.path) < len(after.path) else "the draft"
        where = "at the start" if i == 0 else f"after input {i} ({inputs[i - 1]!r})"
        return f"{where}: {shorter} ends the call, the other goes on"
    return ""


async def replay(
    call: RecordedCall, before: FlowRunner, after: FlowRunner, lookup: Lookup, version: int | None
) -> ReplayCall:
    """One recorded call through its version (`before`) and the draft (`after`)."""
    label = f"version {version}" if version is not None else "the live version"
    inputs = [item.text for item in call.inputs]
    old, old_path, fed_old = await _run(before, call, lookup)
    new, new_path, fed_new = await _run(after, call, lookup)
    a, b = _outcome(old, old_path), _outcome(new, new_path)
    shown = inputs[: max(fed_old, fed_new)]
    masked = next((i for i, text in enumerate(inputs) if _masked(text)), None)
    note = f"input {masked + 1} was masked (sensitive step): the replay stops there" if masked is not None else ""
    changes = _changes(a, b, label)
    return ReplayCall(
        call_id=call.call_id, started_at=call.started_at, version=version, recorded_status=call.status,
        inputs=inputs, replayed=max(fed_old, fed_new), before=a, after=b, changed=bool(changes), changes=changes,
        parted=_parted(a, b, shown or inputs, label) if changes or a.path != b.path else "", note=note,
    )  # fmt: skip

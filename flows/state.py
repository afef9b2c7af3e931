"""The state of one call in a flow: plain JSON-ready data, replaced (never mutated) on every event."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LISTENING = "listening"  # waiting for caller speech, keys or a no-input Timeout
WAITING = "waiting"  # waiting for HttpResult, LookupResult or VoicemailRecorded
DONE = "done"  # transferred, hung up, or the caller left


@dataclass(frozen=True)
class RunState:
    """Where one call is in its flow; `flow_version` pins the call to the flow it started on."""

    call_id: str
    flow_version: str
    step: str = ""
    status: str = LISTENING
    variables: Mapping[str, Any] = field(default_factory=dict)
    pending: str = ""  # the timer or request id an answer must carry; stale answers are ignored
    seq: int = 0
    no_input: int = 0
    no_match: int = 0
    digits: str = ""
    confirming: str = ""  # a value heard with low confidence, waiting for the caller's yes or no
    ended_by: str = ""  # 'transfer', 'hangup', 'caller' or 'cancel' once DONE
    swallow_key: str = ""  # a terminator typed after a full-length entry must not leak into the next step
    sensitive_step: str = ""  # the sensitive collect step in progress (SensitiveInput on was emitted for it)

    @property
    def done(self) -> bool:
        """True once the flow has nothing more to do for this call."""
        return self.status == DONE

    def swallows(self, digit: str) -> bool:
        """True if `digit` is the terminator typed right after a complete entry: the runner ignores it."""
        return bool(self.swallow_key) and digit == self.swallow_key

    def with_vars(self, **updates: Any) -> RunState:
        """A copy with some top-level variables replaced (dotted names set nested values)."""
        variables = copy.deepcopy(dict(self.variables))
        for name, value in updates.items():
            assign(variables, name, value)
        return dataclasses.replace(self, variables=variables)

    def next_id(self, prefix: str) -> tuple[RunState, str]:
        """A fresh id for a timer or request, deterministic per call (no clock, no randomness)."""
        seq = self.seq + 1
        return dataclasses.replace(self, seq=seq), f"{prefix}#{seq}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for storing a call's progress."""
        return dataclasses.asdict(self) | {"variables": copy.deepcopy(dict(self.variables))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        """Inverse of `to_dict`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def assign(variables: dict[str, Any], name: str, value: Any) -> None:
    """Set `name` in place; 'order.status' sets variables['order']['status']."""
    parts = name.split(".")
    target = variables
    for part in parts[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            target[part] = nxt
        target = nxt
    target[parts[-1]] = value

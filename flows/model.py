"""The flow model: a versioned graph of typed steps, built by `flows.loader` from YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flows.conditions import Condition
from flows.slots import SlotSpec
from ivr.core.errors import FlowError

if TYPE_CHECKING:
    from flows.knowledge import KnowledgeBase


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file: where, what, and how to fix it."""

    line: int
    message: str
    fix: str = ""
    warning: bool = False  # worth a look, but the file can still go live

    def describe(self, source: str) -> str:
        """'file.yaml:12: message. Fix: ...' as printed by `ivr flows validate`."""
        text = f"{source}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class FlowValidationError(FlowError):
    """A flow (or knowledge base) file failed loading or validation; `problems` lists every issue with its line."""

    def __init__(self, source: str, problems: list[Problem], what: str = "flow") -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = "\n".join(p.describe(source) for p in self.problems)
        super().__init__(f"{source}: {what} is invalid ({len(self.problems)} problem(s)); it cannot go live\n{lines}")


@dataclass(frozen=True)
class Intent:
    """A caller goal, defined by example phrases plus optional keywords; `label` is how prompts name it."""

    name: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    label: str = ""
    line: int = 0


@dataclass(frozen=True)
class Choice:
    """One way out of an input step: DTMF keys and/or an intent or literal phrases, leading to `next`."""

    next: str
    keys: tuple[str, ...] = ()
    intent: str = ""
    phrases: tuple[str, ...] = ()
    value: str = ""
    line: int = 0

    @property
    def name(self) -> str:
        """The intent or value this choice stands for."""
        return self.intent or self.value


@dataclass(frozen=True)
class Step:
    """Fields every step has."""

    id: str
    line: int

    @property
    def kind(self) -> str:
        """The step kind as written in YAML."""
        return _KIND_OF[type(self)]

    def edges(self) -> list[tuple[str, str]]:
        """(label, target step id) for every way out of this step."""
        return []

    def defines(self, label: str) -> tuple[str, ...]:
        """Variables this step sets when it leaves by the edge `label`."""
        return ()

    def templates(self) -> list[str]:
        """Every prompt template of this step, for the undefined-variable check."""
        return []


@dataclass(frozen=True)
class SayStep(Step):
    """Speak one or more prompts, then go on."""

    text: tuple[str, ...] = ()
    next: str = ""
    barge_in: bool = True

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)] if self.next else []

    def templates(self) -> list[str]:
        return list(self.text)


@dataclass(frozen=True)
class PlayStep(Step):
    """Play an audio file (with `text` as its transcript), then go on."""

    file: str = ""
    text: str = ""
    next: str = ""
    barge_in: bool = True

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)] if self.next else []


@dataclass(frozen=True)
class InputSettings:
    """Prompts, timing and retry policy shared by ask, menu and collect."""

    prompt: tuple[str, ...] = ()
    no_match_prompt: tuple[str, ...] = ()
    no_input_prompt: tuple[str, ...] = ()
    speech: bool = True
    dtmf: bool = True
    timeout: float = 5.0
    no_input_retries: int = 1
    no_match_retries: int = 2
    on_no_input: str = ""
    on_no_match: str = ""
    barge_in: bool = True
    vad: tuple[tuple[str, float], ...] = ()
    confidence: float = 0.5
    confirm_below: float = 0.0
    into: str = ""


@dataclass(frozen=True)
class AnswerSettings:
    """`answers` on ask / menu: questions the flow's knowledge base answers, then `next`; `no_answer` for the rest."""

    next: str
    no_answer: str = ""


@dataclass(frozen=True)
class InputStep(Step):
    """ask / menu: wait for speech or keys and route by intent, phrase or key."""

    settings: InputSettings = field(default_factory=InputSettings)
    choices: tuple[Choice, ...] = ()
    menu: bool = False
    answers: AnswerSettings | None = None

    @property
    def kind(self) -> str:
        """'menu' or 'ask'."""
        return "menu" if self.menu else "ask"

    def edges(self) -> list[tuple[str, str]]:
        out = [(f"choice:{c.name or '/'.join(c.keys)}", c.next) for c in self.choices]
        if self.answers is not None:
            out.append(("answers", self.answers.next))
            out += [("no_answer", self.answers.no_answer)] if self.answers.no_answer else []
        return out + _failure_edges(self.settings)

    def defines(self, label: str) -> tuple[str, ...]:
        if label.startswith("choice:"):
            return (self.settings.into, "last") if self.settings.into else ("last",)
        if label in ("answers", "no_answer"):
            return ("question", "last")
        return ("failure", "last")

    def templates(self) -> list[str]:
        s = self.settings
        return [*s.prompt, *s.no_match_prompt, *s.no_input_prompt]


@dataclass(frozen=True)
class CollectStep(Step):
    """collect: gather one slot (digits, number, yes/no, date, text), optionally confirm it, store it."""

    settings: InputSettings = field(default_factory=InputSettings)
    slot: SlotSpec = field(default_factory=lambda: SlotSpec("digits"))
    terminator: str = "#"
    confirm: str = ""
    next: str = ""
    choices: tuple[Choice, ...] = ()
    sensitive: bool = False  # card digits and the like: recording paused, input masked while the step runs

    def edges(self) -> list[tuple[str, str]]:
        out = [("next", self.next)]
        out += [(f"choice:{c.name}", c.next) for c in self.choices]
        return out + _failure_edges(self.settings)

    def defines(self, label: str) -> tuple[str, ...]:
        if label == "next":
            return (self.settings.into, "last")
        return ("failure", "last") if label.startswith("on_") else ("last",)

    def templates(self) -> list[str]:
        s = self.settings
        return [*s.prompt, *s.no_match_prompt, *s.no_input_prompt] + ([self.confirm] if self.confirm else [])


@dataclass(frozen=True)
class BranchStep(Step):
    """branch: the first condition that holds picks the next step, else `otherwise`."""

    conditions: tuple[tuple[Condition, str, int], ...] = ()
    otherwise: str = ""

    def edges(self) -> list[tuple[str, str]]:
        return [(f"if:{c.source}", target) for c, target, _ in self.conditions] + [("else", self.otherwise)]


@dataclass(frozen=True)
class SetStep(Step):
    """set: assign variables (templates are rendered), then go on."""

    values: tuple[tuple[str, Any], ...] = ()
    next: str = ""

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def defines(self, label: str) -> tuple[str, ...]:
        return tuple(name for name, _ in self.values)

    def templates(self) -> list[str]:
        return [v for _, v in self.values if isinstance(v, str)]


@dataclass(frozen=True)
class HttpStep(Step):
    """http: call a business system; map the JSON response into variables, or take `on_error`."""

    method: str = "GET"
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    timeout: float = 3.0
    retries: int = 1
    map: tuple[tuple[str, str], ...] = ()
    next: str = ""
    on_error: str = ""

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next), ("on_error", self.on_error)]

    def defines(self, label: str) -> tuple[str, ...]:
        mapped = tuple(name for name, _ in self.map) if label == "next" else ()
        return (*mapped, "http")

    def templates(self) -> list[str]:
        found = [self.url, *(v for _, v in self.headers)]
        return found + _strings_in(self.body)


@dataclass(frozen=True)
class LookupStep(Step):
    """lookup: find `key` in a data source the session provides (e.g. orders) and store the record."""

    source: str = ""
    key: str = ""
    into: str = ""
    next: str = ""
    not_found: str = ""
    on_error: str = ""

    def edges(self) -> list[tuple[str, str]]:
        out = [("next", self.next), ("not_found", self.not_found)]
        return out + ([("on_error", self.on_error)] if self.on_error else [])

    def defines(self, label: str) -> tuple[str, ...]:
        return (self.into,) if label == "next" else ()

    def templates(self) -> list[str]:
        return [self.key]


@dataclass(frozen=True)
class TransferStep(Step):
    """transfer: say a prompt, then hand the call to a queue with priority, skills and a reason for the agent."""

    queue: str = ""
    target: str = ""
    priority: int = 0
    skills: tuple[str, ...] = ()
    reason: str = ""
    text: tuple[str, ...] = ()
    when: tuple[TransferRule, ...] = ()

    def templates(self) -> list[str]:
        return [*self.text, self.reason]

    def route(self, variables: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
        """(priority, skills) for this call: the first `when` rule that holds sets the priority and adds skills."""
        for rule in self.when:
            if rule.condition.holds(variables):
                priority = self.priority if rule.priority is None else rule.priority
                return priority, (*self.skills, *(s for s in rule.skills if s not in self.skills))
        return self.priority, self.skills


@dataclass(frozen=True)
class TransferRule:
    """One `when` entry of a transfer step: if `condition` holds, this priority (None: keep) and these skills too."""

    condition: Condition
    priority: int | None = None
    skills: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class VoicemailStep(Step):
    """record_voicemail: prompt, beep, record into a mailbox, then go on."""

    text: tuple[str, ...] = ()
    mailbox: str = ""
    max_seconds: float = 120.0
    beep: bool = True
    finish_keys: str = "#"
    into: str = ""
    next: str = ""

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def defines(self, label: str) -> tuple[str, ...]:
        return (self.into,) if self.into else ()

    def templates(self) -> list[str]:
        return list(self.text)


@dataclass(frozen=True)
class HangupStep(Step):
    """hangup: say goodbye and end the call."""

    text: tuple[str, ...] = ()
    reason: str = ""

    def templates(self) -> list[str]:
        return list(self.text)


_KIND_OF: dict[type, str] = {
    SayStep: "say", PlayStep: "play", InputStep: "ask", CollectStep: "collect", BranchStep: "branch",
    SetStep: "set", HttpStep: "http", LookupStep: "lookup", TransferStep: "transfer",
    VoicemailStep: "record_voicemail", HangupStep: "hangup",
}
STEP_KINDS = (*_KIND_OF.values(), "menu")


def _failure_edges(s: InputSettings) -> list[tuple[str, str]]:
    return [("on_no_input", s.on_no_input), ("on_no_match", s.on_no_match)]


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings_in(v)]
    return []


@dataclass(frozen=True)
class Flow:
    """A loaded, validated flow; `version` is name@content-hash, so a call keeps the flow it started on."""

    name: str
    version: str
    start: str
    steps: Mapping[str, Step]
    intents: Mapping[str, Intent]
    variables: Mapping[str, Any]
    source: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)
    knowledge: str = ""  # the knowledge base the flow's `answers` steps answer from, by name
    knowledge_base: KnowledgeBase | None = None  # attached by the loader when it was found or given
    survey: bool = False  # ask the caller to rate the call after an agent hangs up first

    def step(self, step_id: str) -> Step:
        """The step with this id (the validator guarantees every target exists)."""
        return self.steps[step_id]

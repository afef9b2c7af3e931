"""Caller turns in ask, menu and collect steps: speech, keys, silence, retries and confirmation."""

from __future__ import annotations

import dataclasses
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from flows.model import Choice, CollectStep, InputStep
from flows.numbers import digits_in
from flows.slots import parse_slot, words, yes_no
from flows.state import LISTENING, RunState
from ivr.core.events import Event, IntentDetected, Listen
from ivr.core.redact import REDACTED_SPEECH, redact_keys

if TYPE_CHECKING:
    from flows.runner import FlowRunner

Outcome = tuple[RunState, "str | None"]
# Words around a spoken menu key ("press one", "option two") that do not change its meaning.
_KEY_WORDS = frozenset("press option number pressing push the dial key button".split())
# How close a spoken phrase must be to a grammar phrase (difflib ratio) to count as that phrase.
_PHRASE_MATCH = 0.8


def _prompt_and_listen(runner: FlowRunner, state: RunState, step: InputStep | CollectStep,
                       actions: list[Event], lead: tuple[str, ...] = ()) -> RunState:
    s = step.settings
    runner.say(state, lead, actions, s.barge_in)
    runner.say(state, s.prompt, actions, s.barge_in)
    return _listen(runner, state, step, actions)


def _listen(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, actions: list[Event],
            yes_no_only: bool = False) -> RunState:
    s = step.settings
    state, timer = state.next_id(step.id)
    if yes_no_only:
        max_digits, terminator = 1, ""
    elif isinstance(step, CollectStep):
        max_digits = step.slot.max_length if step.slot.type == "digits" else 8
        max_digits = 1 if step.slot.type == "yes_no" else max_digits
        terminator = step.terminator
    else:
        max_digits = max((len(k) for c in step.choices for k in c.keys), default=1)
        terminator = ""
    actions.append(Listen(
        state.call_id, timer=timer, timeout=s.timeout, speech=s.speech, dtmf=s.dtmf, max_digits=max_digits,
        terminator=terminator, barge_in=s.barge_in,
        phrases=("yes", "no") if yes_no_only else _phrases(runner, step), vad=s.vad, sensitive=_sensitive(step),
    ))
    return dataclasses.replace(state, status=LISTENING, pending=timer, digits="")


def _phrases(runner: FlowRunner, step: InputStep | CollectStep) -> tuple[str, ...]:
    """Recognizer hints: every phrase, intent label and example this step understands, most telling last.

    Whisper keeps only the last 200 tokens of long hints as its prompt, so the list ends with each option's
    phrases and label, after the examples interleaved from the end. With the examples option by option, the
    prompt of the Acme "anything else?" step (253 phrases) held only the last options' examples. Measured with
    bench/intent_whisper_variants.py on 450 held-out utterances heard through CallSpeech: word error rate 33% ->
    25%, intent accuracy 76.9% -> 84.2% (no hints at all: 30%, 77.1%). Fewer, shorter hints (labels, keywords,
    a few short examples) were worse in an earlier run (55% WER): Whisper then forces any speech into them.
    """
    examples: list[list[str]] = []
    last: list[str] = []
    for c in step.choices:
        intent = runner.flow.intents.get(c.intent)
        last += list(c.phrases)
        if intent is not None:
            examples.append(list(intent.examples))
            last.append(intent.label)
    found = [p for p in _interleave_from_end(examples) if p not in last] + last
    if isinstance(step, CollectStep) and step.slot.type in ("digits", "number"):
        found += "zero oh one two three four five six seven eight nine".split()
    if (isinstance(step, CollectStep) and step.slot.type == "yes_no") or step.settings.confirm_below:
        found += ["yes", "no"]
    return tuple(dict.fromkeys(found))


def _interleave_from_end(lists: list[list[str]]) -> list[str]:
    """All items, taking one from each list in turn so that the END of the result draws evenly on every list."""
    queues = [list(reversed(items)) for items in lists]
    out: list[str] = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out[::-1]


def begin(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, actions: list[Event]) -> RunState:
    """Enter an input step: reset its retry counts, say its prompt, and listen."""
    state = dataclasses.replace(state, no_input=0, no_match=0)
    return _prompt_and_listen(runner, state, step, actions)


def _choose(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, choice: Choice) -> Outcome:
    if step.settings.into:
        state = state.with_vars(**{step.settings.into: choice.name})
    return state, choice.next


def _sensitive(step: InputStep | CollectStep) -> bool:
    return isinstance(step, CollectStep) and step.sensitive


def _detected(state: RunState, step: InputStep | CollectStep, text: str, intent: str, confidence: float,
              ranked: tuple[tuple[str, float], ...], source: str, actions: list[Event]) -> RunState:
    if _sensitive(step):  # the slot variable keeps the value; the turn, its record and `last` do not
        text = redact_keys(text) if source == "dtmf" else REDACTED_SPEECH
    actions.append(IntentDetected(state.call_id, step=step.id, text=text, intent=intent,
                                  confidence=round(confidence, 4), ranked=ranked, source=source))
    return state.with_vars(last={"text": text, "intent": intent, "confidence": round(confidence, 4), "step": step.id,
                                 "source": source, "confirmed": False})


def on_digit(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, digit: str,
             actions: list[Event]) -> Outcome:
    """One DTMF key; menus pick an option once the keys are unambiguous, collect waits for enough digits."""
    if not step.settings.dtmf:
        return state, None
    if state.confirming:
        answer = {"1": "yes", "2": "no"}.get(digit)
        return _confirmed(runner, state, step, answer, actions)
    if isinstance(step, CollectStep):
        if digit == step.terminator and step.terminator:
            return _dtmf_complete(runner, state, step, actions)
        state = dataclasses.replace(state, digits=state.digits + digit)
        limit = 1 if step.slot.type == "yes_no" else step.slot.max_length if step.slot.type == "digits" else 0
        if limit and len(state.digits) >= limit:
            state = dataclasses.replace(state, swallow_key=step.terminator)
            return _dtmf_complete(runner, state, step, actions)
        return state, None
    typed = state.digits + digit
    keys = [k for c in step.choices for k in c.keys]
    if not any(k.startswith(typed) for k in keys):
        state = _detected(state, step, typed, "", 0.0, (), "dtmf", actions)
        return _no_match(runner, state, step, actions)
    exact = [c for c in step.choices if typed in c.keys]
    if exact and not any(k != typed and k.startswith(typed) for k in keys):
        state = _detected(state, step, typed, exact[0].name, 1.0, ((exact[0].name, 1.0),), "dtmf", actions)
        return _choose(runner, state, step, exact[0])
    return dataclasses.replace(state, digits=typed), None


def _dtmf_complete(runner: FlowRunner, state: RunState, step: InputStep | CollectStep,
                   actions: list[Event]) -> Outcome:
    typed = state.digits
    if isinstance(step, InputStep):
        exact = [c for c in step.choices if typed in c.keys]
        state = _detected(state, step, typed, exact[0].name if exact else "", 1.0 if exact else 0.0,
                          (), "dtmf", actions)
        return _choose(runner, state, step, exact[0]) if exact else _no_match(runner, state, step, actions)
    value = parse_slot(step.slot, dtmf=typed)
    state = _detected(state, step, typed, step.slot.type if value else "", 1.0 if value else 0.0,
                      (), "dtmf", actions)
    if value is None:
        return _no_match(runner, state, step, actions)
    return state.with_vars(**{step.settings.into: value}), step.next


def on_timeout(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, actions: list[Event]) -> Outcome:
    """Silence: keys typed so far are submitted; otherwise reprompt, or give up after the retries."""
    if state.digits:
        return _dtmf_complete(runner, state, step, actions)
    state = dataclasses.replace(state, no_input=state.no_input + 1, confirming="")
    if state.no_input > step.settings.no_input_retries:
        return _give_up(state, step, "no_input", step.settings.on_no_input)
    return _prompt_and_listen(runner, state, step, actions, step.settings.no_input_prompt), None


def _no_match(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, actions: list[Event],
              apologize: bool = True) -> Outcome:
    state = dataclasses.replace(state, no_match=state.no_match + 1, confirming="")
    if state.no_match > step.settings.no_match_retries:
        return _give_up(state, step, "no_match", step.settings.on_no_match)
    lead = step.settings.no_match_prompt if apologize else ()
    return _prompt_and_listen(runner, state, step, actions, lead), None


def _give_up(state: RunState, step: InputStep | CollectStep, why: str, target: str) -> Outcome:
    tries = state.no_input if why == "no_input" else state.no_match
    reason = f"{'no input' if why == 'no_input' else 'not understood'} {tries} times"
    last = state.variables.get("last")
    heard = last.get("text", "") if isinstance(last, dict) and last.get("step") == step.id else ""
    return state.with_vars(failure={"reason": reason, "kind": why, "step": step.id, "heard": heard}), target


def _spoken_key(step: InputStep, tokens: list[str]) -> Choice | None:
    """'one', 'press two', 'option 3' in a menu with keys: the caller said the key instead of pressing it."""
    rest = [t for t in tokens if t not in _KEY_WORDS]
    if not rest or len(rest) > 2:
        return None
    typed = digits_in(rest)
    return next((c for c in step.choices if typed and typed in c.keys), None)


def _phrase_choice(step: InputStep | CollectStep, text: str) -> tuple[Choice, float] | None:
    said = " ".join(words(text))
    best: tuple[Choice, float] | None = None
    if not said:
        return None  # no words (noise, or a script words() cannot split): no phrase was said
    for c in step.choices:
        for phrase in c.phrases:
            target = " ".join(words(phrase))
            if not target:
                continue
            score = 1.0 if f" {target} " in f" {said} " else SequenceMatcher(None, said, target).ratio()
            if score >= _PHRASE_MATCH and (best is None or score > best[1]):
                best = (c, score)
    return best


def on_speech(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, text: str, asr_confidence: float,
              actions: list[Event]) -> Outcome:
    """A final transcript: fill the slot, or pick the option by phrase, spoken key or intent."""
    if not step.settings.speech:
        return state, None
    if state.confirming:
        return _confirmed(runner, state, step, yes_no(text), actions)
    tokens = words(text)
    if isinstance(step, CollectStep):
        value = parse_slot(step.slot, text=text) if tokens else None
        if value is not None:
            state = _detected(state, step, text, step.slot.type, asr_confidence, (), "speech", actions)
            state = state.with_vars(**{step.settings.into: value})
            if step.confirm and _unsure(step, asr_confidence):
                return _ask_confirm(runner, state, step, f"slot:{value}", step.confirm, actions), None
            return state, step.next
    if isinstance(step, InputStep):
        key_choice = _spoken_key(step, tokens)
        phrase = _phrase_choice(step, text)
        picked = (key_choice, 1.0) if key_choice else phrase
        if picked is not None:
            state = _detected(state, step, text, picked[0].name, picked[1], (), "speech", actions)
            return _choose(runner, state, step, picked[0])
    if isinstance(step, InputStep) and step.answers is not None and runner.answers is not None and tokens:
        reply = runner.answers.reply(step, text)
        if reply is not None:  # a question the knowledge base answers, or one nobody can: see flows/answers.py
            state = _detected(state, step, text, reply.intent, reply.confidence, reply.ranked, "speech", actions)
            runner.say(state, reply.say, actions, step.settings.barge_in)
            return state.with_vars(question=reply.question), reply.next
    intents = [c.intent for c in step.choices if c.intent]
    ranked = runner.classifier.classify(text, intents) if intents and tokens else []
    top = ranked[0] if ranked else None
    pairs = tuple((r.intent, r.confidence) for r in ranked[:3])
    state = _detected(state, step, text, top.intent if top else "", top.confidence if top else 0.0, pairs,
                      "speech", actions)
    s = step.settings
    if top is None or top.confidence < s.confidence:
        return _no_match(runner, state, step, actions)
    choice = next(c for c in step.choices if c.intent == top.intent)
    if top.confidence < s.confirm_below:
        label = runner.flow.intents[top.intent].label
        return _ask_confirm(runner, state, step, f"intent:{top.intent}", f"Did you say {label}?", actions), None
    return _choose(runner, state, step, choice)


def _unsure(step: CollectStep, confidence: float) -> bool:
    """A spoken value to read back: heard with less than `confirm_below` confidence, or always when it is unset.

    Above it the value is confirmed implicitly, by the prompts that use it ("Order 1 2 3 4 5 shipped ..."):
    an explicit "Is that right?" costs the caller a prompt and a turn for a value that is almost always right.
    """
    return not step.settings.confirm_below or confidence < step.settings.confirm_below


def _ask_confirm(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, pending: str, prompt: str,
                 actions: list[Event]) -> RunState:
    runner.say(state, (prompt,), actions, step.settings.barge_in)
    state = _listen(runner, state, step, actions, yes_no_only=True)
    return dataclasses.replace(state, confirming=pending)


def _confirmed(runner: FlowRunner, state: RunState, step: InputStep | CollectStep, answer: str | None,
               actions: list[Event]) -> Outcome:
    pending = state.confirming
    if answer != "yes":
        # A "no" (or no clear answer) asks the original question again, counted as a miss.
        return _no_match(runner, state, step, actions, apologize=answer is None)
    state = dataclasses.replace(state, confirming="").with_vars(**{"last.confirmed": True})
    kind, _, value = pending.partition(":")
    if kind == "slot" and isinstance(step, CollectStep):
        return state, step.next
    choice = next(c for c in step.choices if c.intent == value)
    return _choose(runner, state, step, choice)

"""Questions at ask / menu steps with `answers`: the knowledge base's entries weighed against the step's intents.

One classifier (`flows.intents.IntentClassifier`) is trained on the flow's intents and every entry's questions
together, so "how much is delivery" goes to the delivery-cost entry and "when will my delivery arrive" to
order status. An entry answers only when it tops that joint ranking at or above the knowledge base's
threshold. Everything else is decided by the flow's own classifier exactly as at any other step, so the
entries cannot take confidence away from the step's intents (the joint model spreads it over more classes).
A question that neither an entry nor an intent takes goes to the step's `no_answer` target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.intents import IntentClassifier, normalize, trained_classifier
from flows.knowledge import KnowledgeBase
from flows.model import Flow, InputStep, Intent

_WH = frozenset("how what when where which who whom whose why".split())
_AUXILIARIES = frozenset("do does did is are was were am can could will would should shall may might have has".split())
# Words a caller starts with that say nothing about the form of what follows ("so, do you ship to canada").
_OPENERS = frozenset("yes yeah yep no nope ok okay hi hello hey so and but please also then right alright".split())
# "i want to know how ...", "i was wondering if ...", "can you tell me where ...".
_ASKING = frozenset("know wondering wonder tell ask asking find".split())


def is_question(text: str) -> bool:
    """Whether the caller asked something ("do you sell gift cards", "i wonder if ...") rather than said it."""
    if text.rstrip().endswith("?"):
        return True
    toks = [t.split("'")[0] for t in normalize(text)]  # "how's" -> "how"
    while toks and toks[0] in _OPENERS:
        toks = toks[1:]
    if not toks:
        return False
    if toks[0] in _WH or toks[0] in _AUXILIARIES or "question" in toks:
        return True
    return any(t in _WH or t in ("if", "whether") for i, t in enumerate(toks[:8])
               if any(w in _ASKING for w in toks[:i]))


@dataclass(frozen=True)
class Reply:
    """What an answers step does with a caller's question: say the answer (or nothing), then go to `next`."""

    next: str
    say: tuple[str, ...]
    intent: str
    confidence: float
    ranked: tuple[tuple[str, float], ...]
    question: dict[str, Any]


class Answers:
    """The joint classifier of a flow and its knowledge base, and the decision an answers step makes with it."""

    def __init__(self, flow: Flow, knowledge: KnowledgeBase, intents: IntentClassifier) -> None:
        self.knowledge = knowledge
        self.intents = intents
        # Only the intents the answering steps offer compete: training time grows with the square of the phrases.
        offered = {c.intent for s in flow.steps.values() if isinstance(s, InputStep) and s.answers is not None
                   for c in s.choices if c.intent in flow.intents}
        entries = {e.intent: Intent(e.intent, e.questions, label=e.id) for e in knowledge.entries.values()}
        self.classifier = trained_classifier({**{n: i for n, i in flow.intents.items() if n in offered}, **entries})
        self.entry_intents = tuple(entries)

    def rank(self, text: str, intents: list[str]) -> list[tuple[str, float]]:
        """The joint ranking (entries as 'faq:<id>') over `intents` and every entry."""
        return [(r.intent, r.confidence) for r in self.classifier.classify(text, [*intents, *self.entry_intents])]

    def reply(self, step: InputStep, text: str) -> Reply | None:
        """The answer or the no-answer route for `text` at `step`, or None when the step's intents decide."""
        assert step.answers is not None
        intents = [c.intent for c in step.choices if c.intent]
        ranked = self.rank(text, intents)
        if not ranked:
            return None
        top, confidence = ranked[0]
        pairs = tuple(ranked[:3])
        entry = self.knowledge.entry(top)
        if entry is not None and confidence >= self.knowledge.threshold:
            question = {"text": text, "entry": entry.id, "confidence": confidence, "answered": True}
            return Reply(step.answers.next, (entry.answer,), top, confidence, pairs, question)
        if not step.answers.no_answer or not is_question(text):
            return None
        flow_top = self.intents.classify(text, intents) if intents else []
        if flow_top and flow_top[0].confidence >= step.settings.confidence:
            return None  # an intent takes it, as at any other step
        question = {"text": text, "entry": "", "confidence": confidence, "answered": False}
        return Reply(step.answers.no_answer, (), top, confidence, pairs, question)

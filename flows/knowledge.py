"""Knowledge bases: FAQ entries (ways of asking, and the answer) in their own YAML file, loaded and checked.

    knowledge: acme_faq
    threshold: 0.5
    entries:
      - id: delivery_cost
        questions: [how much is delivery, what does shipping cost]
        answer: Standard delivery costs four dollars ninety nine.

A flow names the knowledge base it answers from (`knowledge: acme_faq`); `ivr flows ...` find it beside the
flow file as `acme_faq.yaml` (`knowledge_for`). Problems carry their line like a flow's.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.intents import IntentClassifier, normalize
from flows.model import Flow, FlowValidationError, InputStep, Intent, Problem
from flows.yaml_source import YamlDocument, read_yaml

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOP_FIELDS = ("knowledge", "title", "description", "version", "threshold", "entries")
_ENTRY_FIELDS = ("id", "questions", "answer")
_WHAT = "knowledge base"
DEFAULT_THRESHOLD = 0.5
MIN_QUESTIONS = 2
_FOLDS = 5


@dataclass(frozen=True)
class KnowledgeEntry:
    """One FAQ entry: the ways callers ask the question, and the answer the IVR says."""

    id: str
    questions: tuple[str, ...]
    answer: str
    line: int = 0
    question_lines: tuple[int, ...] = ()  # the line of each question, for problems that point at one

    def question_line(self, question: str) -> int:
        """The line of one of its questions (the entry's line if unknown)."""
        lines = dict(zip(self.questions, self.question_lines, strict=False))
        return lines.get(question, self.line)

    @property
    def intent(self) -> str:
        """Its class name in the intent classifier ('faq:<id>'; flow intent names cannot contain ':')."""
        return "faq:" + self.id


@dataclass(frozen=True)
class KnowledgeBase:
    """A loaded, checked knowledge base; `version` is name@content-hash, like a flow's."""

    name: str
    version: str
    entries: Mapping[str, KnowledgeEntry]
    threshold: float = DEFAULT_THRESHOLD
    title: str = ""
    source: str = ""

    def entry(self, intent: str) -> KnowledgeEntry | None:
        """The entry behind a classifier class name ('faq:<id>'), or None for a flow intent."""
        return self.entries.get(intent[4:]) if intent.startswith("faq:") else None

    def answers(self) -> list[str]:
        """Every answer text: static prompts, synthesized before the knowledge base goes live."""
        return [e.answer for e in self.entries.values()]


def load_knowledge(path: str | Path) -> KnowledgeBase:
    """Read and check a knowledge base file; raises FlowValidationError listing every problem with its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowValidationError(str(p), [Problem(0, f"cannot read the knowledge base ({exc.strerror})",
                                                    "check the path")], _WHAT) from exc
    return load_knowledge_text(text, str(p))


def load_knowledge_text(text: str, source: str = "<knowledge>") -> KnowledgeBase:
    """Check knowledge base YAML text (`knowledge_warnings` adds the slower checks that do not stop it)."""
    try:
        doc = read_yaml(text, source)
    except FlowValidationError as exc:  # YAML syntax: the same problems, named for what the file is
        raise FlowValidationError(source, exc.problems, _WHAT) from None
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise FlowValidationError(source, [Problem(1, "a knowledge base must be a YAML mapping with 'knowledge' "
                                                      "and 'entries'", "see flows/acme_faq.yaml")], _WHAT)
    problems += _unknown_fields(doc, (), data, _TOP_FIELDS, "the knowledge base")
    name = data.get("knowledge")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(Problem(doc.line(("knowledge",)), "the knowledge base needs 'knowledge: NAME' (letters, "
                                f"digits, _ and -), not {name!r}",
                                "name it after its file, e.g. 'knowledge: acme_faq'"))
    threshold = data.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        problems.append(Problem(doc.line(("threshold",)), f"'threshold' must be a number above 0 and at most 1, "
                                f"not {threshold!r}", f"e.g. 'threshold: {DEFAULT_THRESHOLD}'"))
        threshold = DEFAULT_THRESHOLD
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append(Problem(doc.line(("entries",)), "the knowledge base needs a non-empty 'entries' list",
                                "add '- {id: ..., questions: [...], answer: ...}' items"))
        raw_entries = []
    entries: dict[str, KnowledgeEntry] = {}
    for i, raw in enumerate(raw_entries):
        entry = _entry(doc, i, raw, problems)
        if entry is None:
            continue
        if entry.id in entries:
            problems.append(Problem(entry.line, f"entry id '{entry.id}' is used twice",
                                    f"give each entry its own id (first use on line {entries[entry.id].line})"))
            continue
        entries[entry.id] = entry
    problems += _shared_questions(list(entries.values()))
    if problems:
        raise FlowValidationError(source, problems, _WHAT)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return KnowledgeBase(str(name), f"{name}@{digest}", entries, float(threshold), str(data.get("title", "")),
                         source)


def _unknown_fields(doc: YamlDocument, path: tuple[str | int, ...], raw: dict[str, Any], allowed: tuple[str, ...],
                    where: str) -> list[Problem]:
    out = []
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            out.append(Problem(doc.line((*path, key)), f"{where}: unknown field '{key}'",
                               f"{hint}allowed fields here: {', '.join(allowed)}"))
    return out


def _entry(doc: YamlDocument, i: int, raw: Any, problems: list[Problem]) -> KnowledgeEntry | None:
    path: tuple[str | int, ...] = ("entries", i)
    line = doc.line(path)
    if not isinstance(raw, dict):
        problems.append(Problem(line, f"entry {i + 1} must be a mapping with id, questions and answer",
                                "write '- id: ...' with 'questions:' and 'answer:' under it"))
        return None
    eid = raw.get("id")
    where = f"entry '{eid}'" if isinstance(eid, str) else f"entry {i + 1}"
    problems += _unknown_fields(doc, path, raw, _ENTRY_FIELDS, where)
    ok = True
    if not isinstance(eid, str) or not _NAME.match(eid):
        problems.append(Problem(line, f"{where} needs an 'id' of letters, digits, _ and -, not {eid!r}",
                                "e.g. 'id: delivery_cost'"))
        ok = False
    questions = raw.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
        problems.append(Problem(doc.line((*path, "questions")), f"{where}: 'questions' must be a list of texts",
                                "write 'questions: [how much is delivery, what does shipping cost]'"))
        ok = False
    elif (distinct := len({_said(q) for q in questions})) < MIN_QUESTIONS:
        problems.append(Problem(doc.line((*path, "questions")), f"{where} has {distinct} different "
                                f"question(s); it needs at least {MIN_QUESTIONS} to be recognized reliably",
                                "add the other ways callers ask it"))
        ok = False
    answer = raw.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        problems.append(Problem(doc.line((*path, "answer")), f"{where} has no answer",
                                "add 'answer: ...' with the text the IVR says"))
        ok = False
    elif "{" in answer or "}" in answer:
        problems.append(Problem(doc.line((*path, "answer")), f"{where}: an answer cannot use braces or "
                                "{variables}: answers are synthesized before they go live",
                                "write the answer as plain text"))
        ok = False
    if not ok:
        return None
    assert isinstance(eid, str) and isinstance(questions, list) and isinstance(answer, str)
    # Whitespace collapsed: the text said is the text pre-warmed, so the prompt cache hits.
    lines: dict[str, int] = {}
    for j, q in enumerate(questions):
        lines.setdefault(" ".join(q.split()), doc.line((*path, "questions", j)))
    return KnowledgeEntry(eid, tuple(lines), " ".join(answer.split()), line, tuple(lines.values()))


def _said(text: str) -> str:
    return " ".join(normalize(text))


def _shared_questions(entries: list[KnowledgeEntry]) -> list[Problem]:
    """The same question in two entries can only ever answer with one of them."""
    owner: dict[str, KnowledgeEntry] = {}
    out = []
    for entry in entries:
        for q in entry.questions:
            first = owner.setdefault(_said(q), entry)
            if first is not entry:
                out.append(Problem(entry.question_line(q), f"entry '{entry.id}': question '{q}' is also "
                                   f"a question of entry '{first.id}'",
                                   "keep it in the entry whose answer fits, and delete it here"))
    return out


def knowledge_warnings(kb: KnowledgeBase, flow: Flow | None = None) -> list[Problem]:
    """Questions that, held out of training, would get another entry's answer (or, given the flow that uses the
    knowledge base, an intent of a step that answers questions): 5-fold cross-validation with the flow's classifier."""
    offered: dict[str, str] = {}  # intent -> the first answers step that offers it
    for step in (flow.steps.values() if flow is not None else ()):
        if isinstance(step, InputStep) and step.answers is not None:
            for c in step.choices:
                if flow is not None and c.intent in flow.intents:
                    offered.setdefault(c.intent, step.id)
    intents = {name: flow.intents[name] for name in offered} if flow is not None else {}
    out = []
    for fold in range(_FOLDS):
        held = [(e, q) for e in kb.entries.values() for j, q in enumerate(e.questions) if j % _FOLDS == fold]
        if not held:
            continue
        classes = dict(intents)
        for e in kb.entries.values():
            kept = tuple(q for j, q in enumerate(e.questions) if j % _FOLDS != fold)
            classes[e.intent] = Intent(e.intent, kept)
        classifier = IntentClassifier(classes)
        for entry, q in held:
            ranked = classifier.classify(q)
            top = ranked[0] if ranked else None
            if top is None or top.intent == entry.intent or top.confidence < kb.threshold:
                continue
            other = kb.entry(top.intent)
            what = f"the answer of entry '{other.id}'" if other is not None else (
                f"intent '{top.intent}' of step '{offered[top.intent]}'")
            out.append(Problem(entry.question_line(q), f"entry '{entry.id}': callers asking '{q}' would get {what} "
                               f"({top.confidence:.2f}), judged without this question",
                               f"add more questions like it to '{entry.id}', or reword it", warning=True))
    return sorted(out, key=lambda p: p.line)


def knowledge_path(flow_path: str | Path, name: str) -> Path:
    """Where the knowledge base `name` of a flow file lives: NAME.yaml beside the flow."""
    return Path(flow_path).with_name(f"{name}.yaml")


def knowledge_for(flow_path: str | Path) -> KnowledgeBase | None:
    """The knowledge base a flow file names (`knowledge: NAME`), loaded from NAME.yaml beside it; None if none."""
    p = Path(flow_path)
    try:
        doc = read_yaml(p.read_text(encoding="utf-8"), str(p))
    except OSError:
        return None  # load_flow reports the unreadable flow itself
    name = doc.data.get("knowledge") if isinstance(doc.data, dict) else None
    if not isinstance(name, str) or not _NAME.match(name):
        return None  # no knowledge base, or a malformed name the flow schema reports
    path = knowledge_path(p, name)
    if not path.is_file():
        raise FlowValidationError(str(p), [Problem(
            doc.line(("knowledge",)), f"the flow answers from knowledge base '{name}', but {path} does not exist",
            f"create {path.name} beside the flow (see flows/acme_faq.yaml), or remove 'knowledge: {name}'")])
    return load_knowledge(path)

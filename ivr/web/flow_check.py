"""Checking a flow's YAML for the editor: validator problems with lines, the graph and the step forms.

Also the one place a source becomes a runner for the console (simulator, test cases, replays), cached by hash
because building one trains the intent classifier (about 1.5 s for the demo flow).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import FlowRunner, FlowValidationError, KnowledgeBase, load_flow_text, load_knowledge_text
from flows.model import Problem
from flows.yaml_source import read_yaml
from ivr.web.flow_graph import build_graph
from ivr.web.flow_models import Checked, ProblemOut
from ivr.web.flow_yaml import form_of, step_spans

if TYPE_CHECKING:
    from ivr.web.context import WebContext

_KEEP = 6
_runners: OrderedDict[str, FlowRunner] = OrderedDict()
_lock = threading.Lock()
_KEEP_CHECKED = 32
_checked: OrderedDict[str, Checked] = OrderedDict()


_KB_LINE = re.compile(r"^knowledge:[ \t]*[\"']?([A-Za-z_][A-Za-z0-9_-]*)", re.MULTILINE)
_kbs: OrderedDict[str, KnowledgeBase | FlowValidationError] = OrderedDict()


@dataclass(frozen=True)
class KnowledgeSource:
    """The knowledge base a flow answers from, as new calls would get it: its live version, else its file."""

    name: str
    text: str | None  # None: neither published nor a file in the flow folders
    label: str


async def knowledge_source(ctx: WebContext, text: str) -> KnowledgeSource | None:
    """The knowledge base `text` names (`knowledge: NAME`), from the database or the flow folders; None if none."""
    found = _KB_LINE.search(text)
    if found is None:
        return None
    name = found.group(1)
    console = ctx.store.console
    state = await console.live_state(name)
    if state is not None and state.live is not None:
        source = await console.version_source(name, state.live)
        if source is not None:
            return KnowledgeSource(name, source, f"knowledge base {name} version {state.live}")
    for d in ctx.flow_dirs:
        path = Path(d) / f"{name}.yaml"
        if path.is_file():
            return KnowledgeSource(name, path.read_text(encoding="utf-8"), str(path))
    return KnowledgeSource(name, None, "")


def _knowledge(kb: KnowledgeSource | None) -> KnowledgeBase | FlowValidationError | dict[str, KnowledgeBase] | None:
    """The loaded knowledge base (cached by text), its problems, or {} when it exists nowhere."""
    if kb is None:
        return None
    if kb.text is None:
        return {}  # load_flow_text then says the flow names a knowledge base it was not given
    sha = hashlib.sha256(kb.text.encode()).hexdigest()
    with _lock:
        cached = _kbs.get(sha)
    if cached is None:
        try:
            cached = load_knowledge_text(kb.text, kb.label)
        except FlowValidationError as exc:
            cached = exc
        with _lock:
            _kbs[sha] = cached
            while len(_kbs) > _KEEP:
                _kbs.popitem(last=False)
    return cached


def _kb_problem(kb: KnowledgeSource, exc: FlowValidationError, line: int) -> Problem:
    first = exc.problems[0] if exc.problems else Problem(0, "it does not load")
    return Problem(line, f"knowledge base '{kb.name}' ({kb.label}) has {len(exc.problems)} problem(s), first on its "
                         f"line {first.line}: {first.message}",
                   "fix the knowledge base (its page, or its file), then check this flow again")  # fmt: skip


def _load(name: str, text: str, kb: KnowledgeSource | None, line: int = 1) -> Any:
    """load_flow_text with the knowledge base attached; its own problems become one problem of the flow."""
    knowledge = _knowledge(kb)
    if isinstance(knowledge, FlowValidationError):
        assert kb is not None
        try:
            load_flow_text(text, name)
        except FlowValidationError as exc:
            raise FlowValidationError(name, [*exc.problems, _kb_problem(kb, knowledge, line)]) from None
        raise FlowValidationError(name, [_kb_problem(kb, knowledge, line)])
    return load_flow_text(text, name, knowledge)


def _out(problems: list[Problem]) -> list[ProblemOut]:
    return [
        ProblemOut(line=p.line, message=p.message, fix=p.fix, severity="warning" if p.warning else "error")
        for p in sorted(problems, key=lambda p: p.line)
    ]


def _name_problem(name: str, data: Any, line: int) -> Problem | None:
    found = data.get("flow") if isinstance(data, dict) else None
    if found is None or found == name:
        return None
    return Problem(line, f"this page edits flow '{name}', but the YAML says 'flow: {found}'",
                   f"write 'flow: {name}' (another flow is edited on its own page)")  # fmt: skip


def check_source(name: str, text: str, kb: KnowledgeSource | None = None) -> Checked:
    """Every problem of `text` as flow `name` (answering from `kb`), and as much graph and form data as it allows.

    Cached by content: the flow page and the flows list ask for the same live text again and again, and a check
    of the demo flow costs tens of ms of CPU that the calls' event loop shares through the GIL.
    """
    key = hashlib.sha256(f"{name}\0{text}\0{kb.name if kb else ''}\0{kb.text if kb else ''}".encode()).hexdigest()
    with _lock:
        hit = _checked.get(key)
        if hit is not None:
            _checked.move_to_end(key)
            return hit
    checked = _check_source(name, text, kb)
    with _lock:
        _checked[key] = checked
        while len(_checked) > _KEEP_CHECKED:
            _checked.popitem(last=False)
    return checked


def _check_source(name: str, text: str, kb: KnowledgeSource | None) -> Checked:
    try:
        doc = read_yaml(text, name)
    except FlowValidationError as exc:
        return Checked(ok=False, flow=None, problems=_out(exc.problems), graph=None, steps={}, intents=[])
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    if not isinstance(doc.data, dict):
        problems.append(Problem(1, "a flow is a YAML mapping with 'flow', 'start' and 'steps'",
                                "start from flows/acme_retail.yaml"))  # fmt: skip
    else:
        try:
            _load(name, text, kb, doc.lines.get(("knowledge",), 1))
        except FlowValidationError as exc:
            problems += exc.problems
    named = _name_problem(name, data, doc.lines.get(("flow",), 1))
    if named is not None:
        problems.append(named)
    spans = step_spans(doc, text)
    counts: dict[str, int] = {}
    ordered = sorted((start, end, sid) for sid, (start, end) in spans.items())
    for p in problems:
        for start, end, sid in ordered:
            if start <= p.line <= end:
                counts[sid] = counts.get(sid, 0) + 1
    steps: dict[str, Any] = data["steps"] if isinstance(data.get("steps"), dict) else {}
    intents: dict[str, Any] = data["intents"] if isinstance(data.get("intents"), dict) else {}
    return Checked(
        ok=not any(not p.warning for p in problems),
        flow=str(data["flow"]) if "flow" in data else None,
        problems=_out(problems),
        graph=build_graph(data, counts, {sid: span[0] for sid, span in spans.items()}),
        steps={sid: form_of(sid, raw, spans.get(sid, (0, 0))) for sid, raw in steps.items()},
        intents=[str(i) for i in intents],
    )


def runner_for(name: str, text: str, kb: KnowledgeSource | None = None) -> FlowRunner:
    """The runner of a valid source and its knowledge base (FlowValidationError otherwise); cached by hash."""
    sha = hashlib.sha256(f"{text}\0{kb.text if kb and kb.text else ''}".encode()).hexdigest()
    with _lock:
        runner = _runners.get(sha)
        if runner is not None:
            _runners.move_to_end(sha)
            return runner
    flow = _load(name, text, kb)
    doc_name = flow.name
    if doc_name != name:
        raise FlowValidationError(name, [_name_problem(name, {"flow": doc_name}, 1) or Problem(1, "wrong flow name")])
    runner = FlowRunner(flow)
    with _lock:
        _runners[sha] = runner
        while len(_runners) > _KEEP:
            _runners.popitem(last=False)
    return runner


def flow_files(dirs: tuple[Path, ...]) -> dict[str, Path]:
    """Flow files in the flow folders by flow name (`flow:` in the file; its stem when it does not parse)."""
    found: dict[str, Path] = {}
    for d in dirs:
        for path in sorted(Path(d).glob("*.yaml")):
            if path.name.endswith(".tests.yaml"):
                continue
            name = _flow_name(path)
            if name:
                found.setdefault(name, path)
    return found


def _flow_name(path: Path) -> str:
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        cached = _names.get(key[0])
        if cached is not None and cached[0] == key:
            return cached[1]
        data = read_yaml(path.read_text(encoding="utf-8"), str(path)).data
        if isinstance(data, dict) and "steps" not in data and "flow" not in data:
            name = ""  # a knowledge base or other YAML beside the flows
        else:
            name = str(data["flow"]) if isinstance(data, dict) and "flow" in data else path.stem
    except (OSError, FlowValidationError):
        return path.stem
    _names[key[0]] = (key, name)
    return name


_names: dict[str, tuple[tuple[str, int, int], str]] = {}


def tests_file(dirs: tuple[Path, ...], name: str) -> Path | None:
    """The flow's test cases: `NAME.tests.yaml`, or a `*.tests.yaml` whose `flow:` file is this flow's file."""
    files = flow_files(dirs)
    for d in dirs:
        direct = Path(d) / f"{name}.tests.yaml"
        if direct.is_file():
            return direct
    own = files.get(name)
    for d in dirs:
        for path in sorted(Path(d).glob("*.tests.yaml")):
            try:
                data = read_yaml(path.read_text(encoding="utf-8"), str(path)).data
            except (OSError, FlowValidationError):
                continue
            if own is not None and isinstance(data, dict) and (path.parent / str(data.get("flow", ""))) == own:
                return path
    return None

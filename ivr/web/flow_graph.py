"""A flow's YAML as a graph: steps as nodes, transitions as labelled edges.

Built from the parsed YAML rather than the validated flow, so the graph still draws while the supervisor is
in the middle of an edit that the validator rejects (a target that is not a step yet shows as a missing node).
"""

from __future__ import annotations

from typing import Any, Literal

from ivr.web.flow_models import Graph, GraphEdge, GraphNode

_INPUT_KINDS = ("ask", "menu", "collect")
EdgeKind = Literal["next", "choice", "condition", "failure", "error"]
_EDGE_RANK: dict[EdgeKind, int] = {"choice": 0, "condition": 1, "next": 2, "error": 3, "failure": 4}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " / ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _short(text: str, limit: int = 36) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keys(value: Any) -> str:
    if value is None:
        return ""
    return "/".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _summary(kind: str, raw: dict[str, Any]) -> str:
    if kind in _INPUT_KINDS:
        return _text(raw.get("prompt"))
    if kind == "lookup":
        return f"look up {raw.get('key', '')} in {raw.get('source', '')}"
    if kind == "http":
        return f"{raw.get('method', 'GET')} {raw.get('url', '')}"
    if kind == "transfer":
        return f"to queue {raw.get('queue', '')}: {_text(raw.get('text'))}"
    if kind == "set":
        values = raw.get("values")
        return ", ".join(f"{k} = {v}" for k, v in values.items()) if isinstance(values, dict) else ""
    if kind == "play":
        return f"plays {raw.get('file', '')}"
    return _text(raw.get("text"))


def _node_label(sid: str, kind: str, raw: dict[str, Any]) -> str:
    if kind == "transfer":
        return f"{sid}\n→ {raw.get('queue', '?')}"
    if kind == "collect":
        return f"{sid}\ncollect {raw.get('slot', '')}"
    return f"{sid}\n{kind}"


def _choice_label(option: dict[str, Any]) -> str:
    keys = _keys(option.get("keys"))
    what = option.get("intent") or ""
    if not what and option.get("phrases"):
        what = f"“{_short(_text(option['phrases'][0]), 20)}”" if isinstance(option["phrases"], list) else ""
    return " · ".join(x for x in (keys, str(what)) if x)


def _edges_of(raw: dict[str, Any], kind: str, defaults: dict[str, Any]) -> list[tuple[EdgeKind, Any, str]]:
    """(edge kind, target, label) for every way out of a step."""
    out: list[tuple[EdgeKind, Any, str]] = []
    if kind == "menu":
        for option in raw.get("options") or []:
            if isinstance(option, dict):
                out.append(("choice", option.get("next"), _choice_label(option)))
    if kind in ("ask", "collect"):
        if kind == "collect":
            out.append(("next", raw.get("next"), f"got {raw.get('slot', 'it')}"))
        intents = raw.get("intents")
        for name, target in intents.items() if isinstance(intents, dict) else ():
            out.append(("choice", target, str(name)))
        for g in raw.get("grammar") or []:
            if isinstance(g, dict):
                out.append(("choice", g.get("next"), _choice_label({"keys": g.get("keys"), "intent": g.get("value")})))
    answers = raw.get("answers")
    if kind in ("ask", "menu") and isinstance(answers, dict):  # questions answered from the knowledge base
        out.append(("choice", answers.get("next"), "FAQ answered"))
        if answers.get("no_answer"):
            out.append(("error", answers.get("no_answer"), "no FAQ answer"))
    if kind in _INPUT_KINDS:
        failure = defaults.get("on_failure")
        out.append(("failure", raw.get("on_no_input") or defaults.get("on_no_input") or failure, "no input"))
        out.append(("failure", raw.get("on_no_match") or defaults.get("on_no_match") or failure, "no match"))
    if kind == "branch":
        for c in raw.get("conditions") or []:
            if isinstance(c, dict):
                out.append(("condition", c.get("next"), "if " + _short(str(c.get("if", "")), 44)))
        out.append(("condition", raw.get("else"), "else"))
    if kind in ("say", "play", "set", "record_voicemail"):
        out.append(("next", raw.get("next"), ""))
    if kind == "lookup":
        out += [("next", raw.get("next"), "found"), ("error", raw.get("not_found"), "not found")]
        if raw.get("on_error"):
            out.append(("error", raw.get("on_error"), "error"))
    if kind == "http":
        out += [("next", raw.get("next"), "ok"), ("error", raw.get("on_error"), "error")]
    return out


def build_graph(data: Any, step_problems: dict[str, int], lines: dict[str, int]) -> Graph:
    """The graph of parsed flow YAML; `step_problems` counts the validator's problems per step id."""
    data = data if isinstance(data, dict) else {}
    steps = data.get("steps") if isinstance(data.get("steps"), dict) else {}
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    start = data.get("start")
    nodes: dict[str, GraphNode] = {}
    merged: dict[tuple[str, str], tuple[EdgeKind, list[str]]] = {}
    for sid, raw in steps.items():
        raw = raw if isinstance(raw, dict) else {}
        kind = str(raw.get("kind", "?"))
        nodes[sid] = GraphNode(
            id=sid, kind=kind, label=_node_label(sid, kind, raw), line=lines.get(sid, 0), start=sid == start,
            problems=step_problems.get(sid, 0), summary=_short(_summary(kind, raw), 160),
        )  # fmt: skip
        for edge_kind, target, label in _edges_of(raw, kind, defaults):
            if not isinstance(target, str) or not target:
                continue
            # Parallel transitions (e.g. "no input" and "no match" to the same fallback) share one edge.
            old_kind, labels = merged.get((sid, target), (edge_kind, []))
            if _EDGE_RANK[edge_kind] < _EDGE_RANK[old_kind]:
                old_kind = edge_kind
            if label and label not in labels:
                labels.append(label)
            merged[(sid, target)] = (old_kind, labels)
    for _, target in merged:
        if target not in nodes:
            nodes[target] = GraphNode(id=target, kind="missing", label=f"{target}\n(not a step)", missing=True,
                                      summary=f"'{target}' is not a step: define it or fix the name")  # fmt: skip
    edges = [
        GraphEdge(id=f"{source}->{target}", source=source, target=target, label="\n".join(labels), kind=kind)
        for (source, target), (kind, labels) in merged.items()
    ]
    return Graph(nodes=list(nodes.values()), edges=edges)

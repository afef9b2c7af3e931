"""Call flows: YAML flow files, their validator, intent detection and the pure runner.

The call session needs only: `load_flow`, `FlowRunner`, `RunState`, `demo_sources` / `answer_lookup`
for lookup steps, `static_prompts` to pre-warm, and `flows.http_step.perform` for http steps (kept out of this
import: it loads aiohttp). Knowledge bases (FAQ answers): `load_knowledge[_text]`, `knowledge_for(flow_path)`.
"""

from __future__ import annotations

from flows.knowledge import (
    KnowledgeBase,
    KnowledgeEntry,
    knowledge_for,
    knowledge_warnings,
    load_knowledge,
    load_knowledge_text,
)
from flows.loader import load_flow, load_flow_text
from flows.model import Flow, FlowValidationError, Problem
from flows.orders import DataSource, MemoryDataSource, answer_lookup, demo_sources
from flows.prompts import static_prompts
from flows.runner import FlowRunner
from flows.state import RunState

__all__ = [
    "DataSource",
    "Flow",
    "FlowRunner",
    "FlowValidationError",
    "KnowledgeBase",
    "KnowledgeEntry",
    "MemoryDataSource",
    "Problem",
    "RunState",
    "answer_lookup",
    "demo_sources",
    "knowledge_for",
    "knowledge_warnings",
    "load_flow",
    "load_flow_text",
    "load_knowledge",
    "load_knowledge_text",
    "static_prompts",
]

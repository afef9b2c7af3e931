"""Call flows: YAML flow files, their validator, intent detection and the pure runner.

The call session needs only: `load_flow`, `FlowRunner`, `RunState`, `demo_sources` / `answer_lookup`
for lookup steps, and `flows.http_step.perform` for http steps (kept out of this import: it loads aiohttp).
"""

from __future__ import annotations

from flows.loader import load_flow, load_flow_text
from flows.model import Flow, FlowValidationError, Problem
from flows.orders import DataSource, MemoryDataSource, answer_lookup, demo_sources
from flows.runner import FlowRunner
from flows.state import RunState

__all__ = [
    "DataSource",
    "Flow",
    "FlowRunner",
    "FlowValidationError",
    "MemoryDataSource",
    "Problem",
    "RunState",
    "answer_lookup",
    "demo_sources",
    "load_flow",
    "load_flow_text",
]

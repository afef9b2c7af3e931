"""Supervisors' flows: list, graph, draft editor, test panel, replay, publish, rollback, A/B (placeholder)."""

from __future__ import annotations

from ivr.web.api import Api

api = Api()

"""Supervisors' flows: list, graph, draft editor, test panel, replays, publish, rollback and A/B.

One area of the console, split by concern: `flow_api` (list, flow page, graph, validation, step forms,
drafts), `flow_try` (test panel, TTS, test cases, replays) and `flow_publish` (publish, rollback, A/B, stats).
"""

from __future__ import annotations

from ivr.web import flow_api, flow_publish, flow_try
from ivr.web.api import Api

api = Api.combine(flow_api.api, flow_try.api, flow_publish.api)

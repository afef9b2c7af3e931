"""What the web app needs from the running product, handed over once by `ivr serve`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from ivr.core.config import RecordingsConfig, SurveyConfig, WebConfig
from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore

if TYPE_CHECKING:
    from ivr.session.desk import AgentDesk
    from ivr.session.flow_registry import FlowRegistry
    from ivr.session.live_floor import LiveFloor


class PromptVoice(Protocol):
    """Text to 16-bit mono PCM through the product's TTS and prompt cache."""

    async def say(self, text: str, rate: int) -> bytes: ...


@dataclass
class WebContext:
    """The store, the flow registry (what is live in this process), the voice, the floor's numbers."""

    store: CallStore
    links: TranscriptLinks
    config: WebConfig = field(default_factory=WebConfig)
    root: Path = Path(".")
    registry: FlowRegistry | None = None  # None in tests of the console alone: publishing then only stores
    voice: PromptVoice | None = None
    floor: Any = None  # ivr.session.floor.FloorStats: live numbers for /metrics and the dashboards
    flow_dirs: tuple[Path, ...] = ()  # where flow files and their *.tests.yaml live
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)  # QA playback: folder, key, retention
    live: LiveFloor | None = None  # the live floor and its event bus (None in tests of the console alone)
    desk: AgentDesk | None = None  # the agents' desktops (None in tests of the console alone)
    survey: SurveyConfig = field(default_factory=SurveyConfig)  # the CSAT report's and tasks' follow-up level


CONTEXT = web.AppKey("context", WebContext)

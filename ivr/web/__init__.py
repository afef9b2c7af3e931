"""The aiohttp web app of the control process: health, and transcripts behind signed links."""

from __future__ import annotations

from ivr.web.app import WebServer, build_app

__all__ = ["WebServer", "build_app"]

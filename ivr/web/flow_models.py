"""The typed data of the supervisors' flow pages: what the /api/flows routes take and return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ivr.web.api import STAFF

READERS = frozenset({"admin", "supervisor", "qa"})  # qa reads flows (list, graph, versions), never edits
EDITORS = STAFF
NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class ProblemOut(BaseModel):
    """One thing wrong with a flow's YAML: the line, what, and how to fix it."""

    line: int
    message: str
    fix: str = ""
    severity: Literal["error", "warning"] = "error"


class GraphNode(BaseModel):
    """A step drawn as a node; `missing` marks a target that is not a step."""

    id: str
    kind: str
    label: str
    line: int = 0
    start: bool = False
    missing: bool = False
    problems: int = 0
    summary: str = ""  # the step's first prompt or what it does, for the tooltip


class GraphEdge(BaseModel):
    """A transition: keys, intents, a condition, or a no-input / no-match / error path."""

    id: str
    source: str
    target: str
    label: str
    kind: Literal["next", "choice", "condition", "failure", "error"]


class Graph(BaseModel):
    """The flow as steps and transitions."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class FormField(BaseModel):
    """One field of a step's form."""

    key: str
    label: str
    type: str  # prompts, text, step, number, integer, bool, choice, list, options, intentmap, conditions
    options: list[str] = []
    help: str = ""


class StepForm(BaseModel):
    """A step as its form shows it: the fields the form knows, the rest as YAML."""

    id: str
    kind: str
    line: int
    end_line: int
    fields: dict[str, Any]
    extra: str  # YAML of the step's other keys, kept as written


class SourceBody(BaseModel):
    """A flow's YAML text (an editor's content)."""

    source: str


class Checked(BaseModel):
    """Validation of a flow's YAML: problems with lines, and (when it parses) the graph and the step forms."""

    ok: bool
    flow: str | None
    problems: list[ProblemOut]
    graph: Graph | None
    steps: dict[str, StepForm]
    intents: list[str]


class StepEdit(BaseModel):
    """Rewrite one step of `source` from its form (`fields` None deletes it; an unknown `step` is added)."""

    source: str
    step: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)
    kind: str = ""  # for a new step
    fields: dict[str, Any] | None = None
    extra: str = ""


class Edited(BaseModel):
    """The YAML after a form edit, and where the step now is."""

    source: str
    step: str
    line: int


class VersionOut(BaseModel):
    """One stored version of a flow."""

    version: int
    published_by: str
    published_at: datetime
    origin: str
    note: str
    sha256: str
    live: bool
    candidate: bool


class DraftOut(BaseModel):
    """The shared draft: who saved it last, its lock revision, and (for editors) its text."""

    revision: int
    base_version: int | None
    updated_by: str
    updated_at: datetime
    source: str | None = None


class FlowSummary(BaseModel):
    """A flow in the list."""

    name: str
    stored: bool  # False: only a file in the flow folders, never stored or published
    live: int | None
    candidate: int | None
    share: int
    versions: list[VersionOut]
    draft: DraftOut | None
    file: str | None


class FlowList(BaseModel):
    """Every flow, its versions and what is live."""

    flows: list[FlowSummary]
    can_edit: bool


class ServingOut(BaseModel):
    """What this server gives new calls of the flow right now."""

    live: int | None
    candidate: int | None
    share: int
    loaded_at: datetime | None
    last_prewarm_seconds: float


class FlowDetail(BaseModel):
    """One flow page: versions, live pointers, the draft, the text the editor starts with, and the form layout."""

    name: str
    stored: bool
    live: int | None
    candidate: int | None
    share: int
    changed_at: datetime | None
    changed_by: str
    versions: list[VersionOut]
    draft: DraftOut | None
    live_source: str | None
    editor_source: str
    base_version: int | None
    file: str | None
    tests_file: str | None
    can_edit: bool
    serving: ServingOut | None
    form: dict[str, list[FormField]]


class VersionSource(BaseModel):
    """One stored version with its text."""

    version: int
    source: str
    published_by: str
    published_at: datetime
    origin: str
    note: str


class GraphQuery(BaseModel):
    """Which version to draw (default: the live one)."""

    version: int | None = None


class DraftBody(BaseModel):
    """Save the draft; `revision` is the one the editor loaded (0: there was none)."""

    source: str
    revision: int = Field(ge=0)
    base_version: int | None = None


class DiscardBody(BaseModel):
    """Delete the draft at the revision the editor loaded."""

    revision: int = Field(ge=0)


class SimBody(BaseModel):
    """One move of the caller in the test panel; `state` is what the previous answer returned."""

    source: str
    state: dict[str, Any] | None = None
    action: Literal["start", "say", "keys", "silence", "hangup", "http"]
    text: str = Field(default="", max_length=2000)
    status: int = 200  # for "http": the business system's answer
    body: str = Field(default="", max_length=20000)


class SimEvent(BaseModel):
    """Something the IVR did or understood."""

    kind: str  # say, play, intent, listen, lookup, http, transfer, hangup, voicemail, step
    text: str
    intent: str = ""
    confidence: float | None = None
    ranked: list[tuple[str, float]] = []
    source: str = ""


class SimResult(BaseModel):
    """The test call after one move: events, where it is, slots and variables, and the state to send back."""

    state: dict[str, Any]
    step: str
    status: str
    done: bool
    ended_by: str
    events: list[SimEvent]
    slots: dict[str, Any]
    variables: dict[str, Any]
    waiting_http: str = ""  # the request the flow waits on (answer it with action "http")


class CaseOut(BaseModel):
    """One test case's result."""

    name: str
    passed: bool
    failure: str
    transcript: list[str]


class TestRun(BaseModel):
    """The flow's test cases run against a source."""

    file: str | None
    cases: list[CaseOut]
    passed: int
    failed: int
    seconds: float
    problems: list[ProblemOut] = []


class ReplayBody(BaseModel):
    """Replay the last `limit` calls of the flow through `source`."""

    source: str
    limit: int = Field(default=20, ge=1, le=200)


class Outcome(BaseModel):
    """Where a replayed call ended up."""

    step: str
    intent: str
    transfer: bool
    queue: str
    ended_by: str
    path: list[str]


class ReplayCall(BaseModel):
    """One recorded call replayed through the version it ran and through the draft."""

    call_id: str
    started_at: datetime
    version: int | None
    recorded_status: str
    inputs: list[str]
    replayed: int  # inputs fed (masked ones stop the replay)
    before: Outcome
    after: Outcome
    changed: bool
    changes: list[str]
    parted: str  # where the two paths part, '' if they do not
    note: str = ""


class ReplayRun(BaseModel):
    """Replays of recent calls; `changed` counts calls whose outcome differs."""

    calls: list[ReplayCall]
    changed: int
    seconds: float
    skipped: list[str] = []  # calls that could not be replayed, and why


class PublishBody(BaseModel):
    """Publish the saved draft at `draft_revision`, if `expect_live` is still live."""

    draft_revision: int = Field(ge=1)
    expect_live: int | None
    note: str = Field(default="", max_length=500)


class LiveBody(BaseModel):
    """Make a stored version live for every new call (rollback), if `expect_live` is still live."""

    version: int
    expect_live: int | None


class AbBody(BaseModel):
    """Send `share` percent of new calls to `version`; null or 0 ends the A/B test."""

    version: int | None
    share: int = Field(ge=0, le=100)


class LiveOut(BaseModel):
    """What is live after a change, and whether this server already serves it."""

    version: int | None = None  # the version a publish stored
    live: int | None
    candidate: int | None
    share: int
    revision: int
    applied: bool  # this server's registry loaded it (new calls get it now)
    load_seconds: float = 0.0
    prewarm_seconds: float = 0.0
    error: str = ""


class StatsQuery(BaseModel):
    """The comparison window in days."""

    days: int = Field(default=30, ge=1, le=365)


class VersionStatsOut(BaseModel):
    """How calls on one version went."""

    version: int | None
    live: bool
    candidate: bool
    calls: int
    answered: int
    contained: int
    transferred: int
    abandoned: int
    containment: float | None
    transfer_rate: float | None
    no_match_rate: float | None
    caller_turns: int
    mean_seconds: float | None
    median_seconds: float | None


class StatsOut(BaseModel):
    """Versions compared on containment, transfers, no-match rate and call length."""

    days: int
    versions: list[VersionStatsOut]


class TtsQuery(BaseModel):
    """A prompt to hear."""

    text: str = Field(min_length=1, max_length=1000)

"""Scorecards, scoring a call, and the random review queue.

Admins and supervisors define scorecards; reviewers (qa, supervisor, admin) score calls on them;
an agent may read the reviews of their own calls and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.storage import StorageError
from ivr.storage.scorecards import ReviewRow, ScorecardConflict
from ivr.web.api import EVERYONE, Api, ApiCall, ApiError
from ivr.web.qa_models import (
    CARD_EDITORS,
    REVIEWERS,
    CallReviews,
    QueueQuery,
    ReviewBody,
    ReviewList,
    ReviewOut,
    ReviewQuery,
    ReviewQueue,
    SampleBody,
    Sampled,
    SampleOut,
    ScorecardEdit,
    ScorecardList,
    ScorecardOut,
    ScoredReview,
    card_body,
    scorecard_out,
)
from ivr.web.scorecard import Answer, ScorecardBody, ScoringError, score_card

api = Api()


def _card_id(call: ApiCall) -> int:
    try:
        return int(call.params["card_id"])
    except ValueError:
        raise ApiError(404, f"{call.params['card_id']!r} is not a scorecard number") from None


def _definition(body: ScorecardBody) -> dict[str, object]:
    return {"pass_mark": body.pass_mark, "sections": [s.model_dump() for s in body.sections]}


def review_out(r: ReviewRow) -> ReviewOut:
    """The API shape of a stored review."""
    return ReviewOut(id=r.id, call_id=r.call_id, scorecard_id=r.scorecard_id, scorecard=r.scorecard,
                     scorecard_revision=r.scorecard_revision, reviewer=r.reviewer, score=r.score,
                     raw_score=r.raw_score, failed=r.failed, passed=r.passed,
                     answers=[Answer.model_validate(a) for a in r.answers], comment=r.comment,
                     created_at=r.created_at, updated_at=r.updated_at, agent_id=r.agent_id, queue=r.queue,
                     flow_name=r.flow_name, flow_version=r.flow_version)  # fmt: skip


async def own_call(call: ApiCall, call_id: str) -> str:
    """The call's agent id; 404 for an unknown call, and for an agent's look at another agent's call."""
    agent = await call.ctx.store.qa.call_agent(call_id)
    if agent is None:
        raise ApiError(404, f"there is no call {call_id!r}")
    if call.user.role == "agent" and agent not in await call.ctx.store.qa.agent_ids_of(call.user.username):
        raise ApiError(404, f"there is no call {call_id!r}")  # the same answer: an agent learns nothing of it
    return agent


# --- scorecards ---------------------------------------------------------------------------------
@api.route("GET", "/api/scorecards", roles=REVIEWERS, summary="List scorecards", tag="qa", response=ScorecardList)
async def list_scorecards(call: ApiCall) -> ScorecardList:
    """Every scorecard with its sections, criteria and review count."""
    rows = await call.ctx.store.qa.list_scorecards()
    return ScorecardList(scorecards=[scorecard_out(r) for r in rows], can_edit=call.user.role in CARD_EDITORS)


@api.route("POST", "/api/scorecards", roles=CARD_EDITORS, summary="Create a scorecard", tag="qa",
           body=ScorecardBody, response=ScorecardOut, status=201)  # fmt: skip
async def create_scorecard(call: ApiCall) -> ScorecardOut:
    """A new scorecard: sections of yes/no or 1-5 criteria with weights, N/A and fatal flags."""
    body: ScorecardBody = call.body
    try:
        row = await call.ctx.store.qa.create_scorecard(body.name, description=body.description,
                                                       definition=_definition(body), active=body.active,
                                                       by=call.user.username)  # fmt: skip
    except StorageError as exc:
        raise ApiError(409, str(exc)) from None
    await call.audit("scorecard.create", body.name, id=row.id, criteria=len(body.criteria()))
    return scorecard_out(row)


@api.route("GET", "/api/scorecards/{card_id}", roles=REVIEWERS, summary="Show a scorecard", tag="qa",
           response=ScorecardOut)  # fmt: skip
async def get_scorecard(call: ApiCall) -> ScorecardOut:
    """One scorecard."""
    row = await call.ctx.store.qa.get_scorecard(_card_id(call))
    if row is None:
        raise ApiError(404, f"there is no scorecard {call.params['card_id']}")
    return scorecard_out(row)


@api.route("PUT", "/api/scorecards/{card_id}", roles=CARD_EDITORS, summary="Change a scorecard", tag="qa",
           body=ScorecardEdit, response=ScorecardOut)  # fmt: skip
async def change_scorecard(call: ApiCall) -> ScorecardOut:
    """Change (or retire, with active false) a scorecard; 409 if someone changed it since you loaded it."""
    body: ScorecardEdit = call.body
    card_id = _card_id(call)
    try:
        row = await call.ctx.store.qa.update_scorecard(card_id, expected_revision=body.revision, name=body.name,
                                                       description=body.description, definition=_definition(body),
                                                       active=body.active, by=call.user.username)  # fmt: skip
    except ScorecardConflict as exc:
        raise ApiError(409, str(exc)) from None
    except StorageError as exc:
        raise ApiError(404 if "no scorecard" in str(exc) else 409, str(exc)) from None
    await call.audit("scorecard.change", body.name, id=card_id, revision=row.revision, active=body.active)
    return scorecard_out(row)


# --- scoring a call -------------------------------------------------------------------------------
@api.route("GET", "/api/calls/{call_id}/reviews", roles=EVERYONE, summary="Read a call's reviews", tag="qa",
           response=CallReviews)  # fmt: skip
async def call_reviews(call: ApiCall) -> CallReviews:
    """The reviews of a call (an agent: of their own calls only) and the active scorecards to score it on."""
    call_id = call.params["call_id"]
    await own_call(call, call_id)
    reviews = await call.ctx.store.qa.list_reviews(call_id=call_id)
    can_score = call.user.role in REVIEWERS
    cards = await call.ctx.store.qa.list_scorecards(active_only=True) if can_score else []
    return CallReviews(call_id=call_id, reviews=[review_out(r) for r in reviews],
                       scorecards=[scorecard_out(c) for c in cards], can_score=can_score)  # fmt: skip


@api.route("POST", "/api/calls/{call_id}/reviews", roles=REVIEWERS, summary="Score a call", tag="qa",
           body=ReviewBody, response=ScoredReview, status=201)  # fmt: skip
async def score_call(call: ApiCall) -> ScoredReview:
    """Score a call on a scorecard with an answer (and comment) per criterion; scoring again replaces yours."""
    call_id = call.params["call_id"]
    await own_call(call, call_id)
    body: ReviewBody = call.body
    row = await call.ctx.store.qa.get_scorecard(body.scorecard_id)
    if row is None:
        raise ApiError(404, f"there is no scorecard {body.scorecard_id}")
    card = scorecard_out(row)
    if not card.active:
        raise ApiError(409, f"scorecard {card.name!r} is retired; score on an active one")
    try:
        result = score_card(card_body(card), body.answers)
    except ScoringError as exc:
        raise ApiError(400, str(exc)) from None
    saved = await call.ctx.store.qa.save_review(
        call_id, card.id, revision=card.revision, reviewer=call.user.username, score=result.score,
        raw_score=result.raw_score, failed=result.failed, passed=result.passed,
        answers=[a.model_dump() for a in body.answers], comment=body.comment,
    )  # fmt: skip
    await call.audit("review.save", call_id, scorecard=card.name, score=result.score, failed=result.failed)
    return ScoredReview(**review_out(saved).model_dump(), result=result)


@api.route("GET", "/api/reviews", roles=REVIEWERS, summary="List reviews", tag="qa", query=ReviewQuery,
           response=ReviewList)  # fmt: skip
async def list_reviews(call: ApiCall) -> ReviewList:
    """Reviews newest first, by period (UTC days, inclusive), agent and reviewer."""
    q: ReviewQuery = call.query
    since = datetime(q.since.year, q.since.month, q.since.day, tzinfo=UTC) if q.since else None
    until = datetime(q.until.year, q.until.month, q.until.day, tzinfo=UTC) + timedelta(days=1) if q.until else None
    rows = await call.ctx.store.qa.list_reviews(since=since, until=until, agent=q.agent or None,
                                                reviewer=q.reviewer, limit=q.limit)  # fmt: skip
    return ReviewList(reviews=[review_out(r) for r in rows])


# --- the review queue -----------------------------------------------------------------------------
@api.route("POST", "/api/qa/sample", roles=REVIEWERS, summary="Sample calls for review", tag="qa",
           body=SampleBody, response=Sampled, status=201)  # fmt: skip
async def sample(call: ApiCall) -> Sampled:
    """Draw a random share of each agent's calls of a day into the review queue (at least one per agent)."""
    body: SampleBody = call.body
    if body.scorecard_id is not None and await call.ctx.store.qa.get_scorecard(body.scorecard_id) is None:
        raise ApiError(404, f"there is no scorecard {body.scorecard_id}")
    try:
        added = await call.ctx.store.qa.sample_calls(
            body.day, percent=body.percent, by=call.user.username, scorecard_id=body.scorecard_id,
            agents_only=not body.include_bot_calls, seed=body.seed,
        )  # fmt: skip
    except StorageError as exc:
        raise ApiError(400, str(exc)) from None
    await call.audit("review.sample", body.day.isoformat(), percent=body.percent, added=len(added))
    return Sampled(added=added, day=body.day, percent=body.percent)


@api.route("GET", "/api/qa/queue", roles=REVIEWERS, summary="Read the review queue", tag="qa", query=QueueQuery,
           response=ReviewQueue)  # fmt: skip
async def review_queue(call: ApiCall) -> ReviewQueue:
    """Sampled calls waiting for review (or done), with caller, agent, queue, flow and length."""
    q: QueueQuery = call.query
    rows = await call.ctx.store.qa.review_queue(day=q.day.isoformat() if q.day else None, agent=q.agent or None,
                                                status=q.status)  # fmt: skip
    cards = await call.ctx.store.qa.list_scorecards(active_only=True)
    items = [SampleOut(call_id=r.call_id, day=r.day, agent_id=r.agent_id, percent=r.percent,
                       scorecard_id=r.scorecard_id, sampled_by=r.sampled_by, sampled_at=r.sampled_at, caller=r.caller,
                       started_at=r.started_at, duration_seconds=r.duration_seconds, queue=r.queue,
                       flow_name=r.flow_name, flow_version=r.flow_version, reviews=r.reviews, score=r.score)
             for r in rows]  # fmt: skip
    return ReviewQueue(items=items, status=q.status, day=q.day, scorecards=[scorecard_out(c) for c in cards])


api.page("/scorecards", "scorecards.html", title="Scorecards", roles=REVIEWERS, route=list_scorecards)
api.page("/qa/queue", "review_queue.html", title="Review queue", roles=REVIEWERS, route=review_queue)

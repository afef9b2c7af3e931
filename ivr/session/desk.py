"""AgentDesk: what each agent's desktop shows (state, the call offered or taken, its transcript), fed by the CallBus.

The screen pop is published by the queue's transfer (QueueTransfer asks `pop()` before it dials the agent's phone):
one `screen_pop` record on the bus with the caller, intent and slots, queue and wait, the flow path and the whole
transcript so far. When the agent has the desk open, the phone is dialled once the desk says it shows the pop (or
`pop_lead_seconds` later at most, so a slow or stuck browser can never hold a call). After the pop, every turn of the
call on the bus (the IVR's, the caller's, and the bridged call's speech) is kept on the agent's card, so a desk
opened again mid-call or in wrap-up shows the whole call. State changes go through the Acd, so the live floor sees
them; the roster (agents and queues managed in the console) is re-read from the store and applied to the Acd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.core.config import DeskConfig, QueueConfig
from ivr.core.events import TransferRequested
from ivr.queues import Offer
from ivr.session.bus import Record
from ivr.session.live_view import Turn

if TYPE_CHECKING:
    from ivr.session.acd import Acd
    from ivr.session.flow_call import FlowCall
    from ivr.session.live_floor import LiveFloor
    from ivr.storage import CallStore

log = logging.getLogger("ivr.desk")

# Variables the flow keeps for itself, not something the caller gave (the customer has its own place in the pop).
_BUILT_IN = frozenset({"caller", "callee", "last", "failure", "call_id", "visits", "flow", "customer"})
MASK = "••••"
# Record kinds that are a turn of the call's transcript (bridged speech comes as records with speaker and text).
_TURN_KINDS = frozenset({"say", "play", "intent_detected"})


@dataclass
class Card:
    """One call on an agent's desk: the pop, its transcript, and where it is (ringing, talking, ended)."""

    call_id: str
    agent_id: str
    pop: dict[str, Any]
    turns: list[Turn]
    phase: str = "ringing"  # ringing | talking | ended | withdrawn
    popped_at: float = 0.0  # wall time
    ended_at: float | None = None
    disposition: str = ""
    notes: str = ""


@dataclass
class _AgentBook:
    state_since: float = 0.0
    reason: str = ""
    card: Card | None = None
    streams: int = 0
    waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # call id -> pop shown


class AgentDesk:
    """Every agent's desk in this control process; inputs return at once, except `pop` (bounded by the lead)."""

    def __init__(self, acd: Acd, live: LiveFloor, config: DeskConfig | None = None, *,
                 store: CallStore | None = None, wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.acd, self.live, self.store = acd, live, store
        self.config = config or DeskConfig()
        self._wall = wall
        self._started = wall()  # agents logged in at start-up have been in their state since about now
        self._books: dict[str, _AgentBook] = {}
        self._cards: dict[str, Card] = {}  # call id -> the card of the agent it was last offered to
        self._sub = live.bus.subscribe(maxlen=max(10_000, live.config.stream_buffer), tag="desk")
        self._task: asyncio.Task[None] | None = None

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Follow the bus."""
        self._task = asyncio.create_task(self._follow(), name="agent-desk")

    async def stop(self) -> None:
        """Stop following the bus."""
        self._sub.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # --- the screen pop (QueueTransfer, before dialling) ---------------------------------

    async def pop(self, call: FlowCall, request: TransferRequested, offer: Offer, headers: Mapping[str, str]) -> None:
        """Publish the screen pop for `offer`'s agent, and wait (briefly) until an open desk shows it."""
        self.catch_up()  # turns published before now are in the live transcript copied below, not appended twice
        agent_id, call_id = offer.agent.id, call.call_id
        found = self.live.calls.transcript(call_id)
        live_call = found[0] if found else None
        pop = {
            "call_id": call_id, "agent_id": agent_id, "caller": headers.get("X-IVR-Caller", ""),
            "intent": "" if headers.get("X-IVR-Intent") == "none" else headers.get("X-IVR-Intent", ""),
            "slots": _slots(call), "queue": offer.entry.queue, "wait": round(offer.wait, 3),
            "priority": offer.entry.priority, "skills": list(offer.entry.skills), "reason": request.reason,
            "flow": live_call.flow if live_call else "", "version": live_call.version if live_call else None,
            "path": _path(call, self.live.calls.path(call_id)), "customer": _customer(call),
            "transcript_url": headers.get("X-IVR-Transcript", ""), "ring_seconds": offer.timeout,
        }  # fmt: skip
        turns = list(found[1]) if found else []
        book = self._book(agent_id)
        if book.card is not None:  # the desk shows one call: the one before is done with
            self._cards.pop(book.card.call_id, None)
        card = Card(call_id, agent_id, pop, turns, popped_at=self._wall())
        book.card, self._cards[call_id] = card, card
        waiter: asyncio.Future[None] | None = None
        if book.streams > 0:
            waiter = book.waiting[call_id] = asyncio.get_running_loop().create_future()
        self.live.bus.publish("screen_pop", call_id, agent_id=agent_id, pop=pop,
                              turns=[vars(t) for t in turns])  # fmt: skip
        if waiter is None:
            return
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.pop_lead_seconds):
                    await asyncio.shield(waiter)
        finally:
            book.waiting.pop(call_id, None)

    # --- the desk's streams --------------------------------------------------------------

    def stream_opened(self, agent_id: str) -> None:
        """A desk page of this agent is listening (pops wait for it)."""
        self._book(agent_id).streams += 1

    def stream_closed(self, agent_id: str) -> None:
        """That page went away (the call goes on; the desk shows it again when reopened)."""
        book = self._book(agent_id)
        book.streams = max(0, book.streams - 1)

    def shown(self, agent_id: str, call_id: str) -> None:
        """The agent's desk shows the pop of `call_id`: the phone may ring."""
        waiter = self._book(agent_id).waiting.get(call_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- reading -------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply every record published so far (a snapshot is then current up to `bus.seq`)."""
        for r in self._sub.take():
            self._apply(r)

    def card(self, agent_id: str) -> Card | None:
        """The call on the agent's desk: offered, in progress, or ended and not yet replaced."""
        self.catch_up()
        return self._book(agent_id).card

    def state(self, agent_id: str) -> tuple[str, float, str, float | None]:
        """(state, since (wall), reason, wall time wrap-up ends or None) of an agent (QueueError if unknown)."""
        self.catch_up()
        status = self.acd.status(agent_id)
        book = self._book(agent_id)
        wrap = None
        if status.wrap_until is not None:  # the distributor's clock is monotonic
            wrap = self._wall() + (status.wrap_until - time.monotonic())
        return status.state.value, book.state_since, book.reason, wrap

    # --- the agent's actions -------------------------------------------------------------

    def set_state(self, agent_id: str, state: str, reason: str = "") -> None:
        """available | not_ready (with a reason from the configured list) | logged_out, through the Acd."""
        if state == "available":
            self.acd.set_ready(agent_id)
        elif state == "not_ready":
            self.acd.set_not_ready(agent_id, reason)
        else:
            self.acd.logout(agent_id)

    def noted(self, agent_id: str, call_id: str, disposition: str, notes: str) -> None:
        """The agent saved the call's disposition (the card shows it)."""
        card = self._cards.get(call_id)
        if card is not None and card.agent_id == agent_id:
            card.disposition, card.notes = disposition, notes

    async def reload_roster(self, queues: list[QueueConfig] | None = None) -> None:
        """Apply the store's agents and queues to the running Acd (after a console edit)."""
        assert self.store is not None
        stored, agents = await self.store.desk.roster()
        self.acd.reconfigure(stored if queues is None else queues, [a.config for a in agents])

    # --- internals -----------------------------------------------------------------------

    def _book(self, agent_id: str) -> _AgentBook:
        return self._books.setdefault(agent_id, _AgentBook(state_since=self._started))

    async def _follow(self) -> None:
        while not self._sub.closed:
            for r in await self._sub.next_batch():
                self._apply(r)
            if self._sub.take_dropped():
                log.warning("agent desk fell behind the call bus; some turns are missing from desks")

    def _apply(self, r: Record) -> None:
        kind = r["kind"]
        if kind == "agent_state":
            book = self._book(r["agent_id"])
            book.state_since, book.reason = r["t"], r.get("reason", "") if r["state"] == "not_ready" else ""
            return
        card = self._cards.get(r.get("call_id", ""))
        if card is None or kind == "screen_pop":
            return
        if kind in _TURN_KINDS or ("speaker" in r and "text" in r):
            card.turns.append(_turn(r))
        elif kind == "answered" and r.get("agent_id") == card.agent_id:
            card.phase = "talking"
        elif kind in ("no_answer", "offer_cancelled") and (r.get("agent_id"), card.phase) == (card.agent_id, "ringing"):
            card.phase = "withdrawn"
            book = self._book(card.agent_id)
            if book.card is card:
                book.card = None
            del self._cards[card.call_id]
        elif kind in ("hangup", "call_ended") and card.phase != "ended":
            card.phase, card.ended_at = "ended", r["t"]


def _turn(r: Record) -> Turn:
    kind = r["kind"]
    if kind in ("say", "play"):
        return Turn(r["t"], "ivr", r.get("text", ""))
    if kind == "intent_detected":
        return Turn(r["t"], "caller", r.get("text", ""), r.get("intent", ""), r.get("confidence"))
    return Turn(r["t"], str(r.get("speaker", "")), str(r.get("text", "")), "", r.get("confidence"))


def _slots(call: FlowCall) -> dict[str, Any]:
    """What the caller gave the flow (its variables), with the values of sensitive collect steps masked."""
    variables = call.state.variables if call.state is not None else {}
    hidden: set[str] = set()
    flow = getattr(getattr(call, "runner", None), "flow", None)
    for step in getattr(flow, "steps", {}).values():
        if getattr(step, "sensitive", False) and getattr(getattr(step, "settings", None), "into", ""):
            hidden.add(step.settings.into)
    return {k: (MASK if k in hidden else v) for k, v in variables.items() if k not in _BUILT_IN and v not in ("", None)}


def _path(call: FlowCall, waited: list[str]) -> list[str]:
    """The steps the call went through: where it waited (in order, repeats kept), with the steps it only passed
    through (a greeting, a lookup) put in by the order of the runner's first visits."""
    variables = call.state.variables if call.state is not None else {}
    visits = variables.get("visits")
    first = [str(step) for step in visits] if isinstance(visits, Mapping) else []
    out: list[str] = []
    done: set[str] = set()
    for step in [*waited, None]:
        upto = first.index(step) if step in first else len(first) if step is None else 0
        for passed in first[:upto]:
            if passed not in done:
                out.append(passed)
                done.add(passed)
        if step is not None:
            out.append(step)
            done.add(step)
    return out


def _customer(call: FlowCall) -> dict[str, Any] | None:
    """The known customer a flow's lookup found (the VIP feature's FlowCall.customer), None when unknown."""
    found = getattr(call, "customer", None)
    return dict(found) if isinstance(found, Mapping) and (found.get("id") or found.get("name")) else None

"""The supervisors' flow area over a real SQLite store: list, graph, validation, forms, drafts, test panel,
test cases, replays, publish, rollback and A/B, as each role sees them."""

from __future__ import annotations

import functools
import io
import json
import shutil
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ivr.core.config import TtsConfig, WebConfig
from ivr.session.flow_registry import FlowRegistry
from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore
from ivr.web import build_app
from ivr.web.context import WebContext
from ivr.web.passwords import hash_password
from tts.cached import CachedSynthesizer

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
SHOP = """\
flow: little_shop
start: greeting
defaults:
  on_failure: agent
intents:
  hours:
    label: opening hours
    examples: [opening hours, when are you open, what time do you open, hours please]
  agent:
    label: an agent
    examples: [agent, talk to a person, representative, a real person please]
steps:
  greeting:
    kind: say
    text: {greeting}
    next: menu

  menu:
    kind: menu
    prompt: Say opening hours or agent, or press 1 for hours and 0 for an agent.
    options:
      - {{keys: "1", intent: hours, next: {hours_target}}}
      - {{keys: "0", intent: agent, next: agent}}

  hours:
    kind: say
    text: We are open nine to five.
    next: bye

  agent:
    kind: transfer
    text: Connecting you with a person.
    queue: support
    reason: Caller asked for an agent

  bye:
    kind: hangup
    text: Goodbye.
"""
TESTS = """\
flow: little_shop.yaml
cases:
  - name: hours by key
    script:
      - expect: Welcome to the little shop
      - dtmf: "1"
      - expect: open nine to five
      - expect_end: hangup
  - name: agent by voice
    script:
      - caller: talk to a person
      - expect_intent: agent
      - expect_transfer: support
"""


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 takes a moment on purpose: once per test run


def shop(greeting: str = "Welcome to the little shop.", hours_target: str = "hours") -> str:
    return SHOP.format(greeting=greeting, hours_target=hours_target)


@dataclass
class Console:
    """The app under test, its store and flow folder, and a way to log in as each role."""

    store: CallStore
    flows: Path
    ctx: WebContext
    login: Callable[[str], Awaitable[Client]]


class Client:
    """A logged-in browser: the aiohttp test client plus the session's CSRF token."""

    def __init__(self, http: TestClient[Any, Any], csrf: str) -> None:
        self.http, self.csrf = http, csrf

    async def call(self, method: str, path: str, body: Any = None, *, csrf: str | None = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf} if method != "GET" else {}
        async with self.http.request(method, path, json=body, headers=headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if r.content_type == "application/json" else text


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "little_shop.yaml").write_text(shop())
    (flows / "little_shop.tests.yaml").write_text(TESTS)
    for name in ("acme_retail.yaml", "acme_retail.tests.yaml", "acme_faq.yaml"):
        shutil.copy(REPO / "flows" / name, flows)
    store = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="n1")
    await store.start()
    for name, role in (("alice", "supervisor"), ("bob", "supervisor"), ("quinn", "qa"), ("ann", "agent"),
                       ("root", "admin")):  # fmt: skip
        await store.console.add_user(name, role=role, display_name=name.title(), password_hash=password_hash())
    links = TranscriptLinks(b"flows-test-secret-0123456789abcdef", "http://127.0.0.1", 60)
    ctx = WebContext(store=store, links=links, config=WebConfig(secure_cookies=False, max_upload_kb=64),
                     flow_dirs=(flows,))  # fmt: skip
    app = build_app(ctx)

    async def login(username: str) -> Client:
        http = await aiohttp_client(app)
        async with http.get("/api/session") as r:
            csrf = (await r.json())["csrf"]
        async with http.post("/api/session", json={"username": username, "password": PASSWORD},
                             headers={"X-CSRF-Token": csrf}) as r:  # fmt: skip
            assert r.status == 200, await r.text()
            return Client(http, (await r.json())["csrf"])

    try:
        yield Console(store, flows, ctx, login)
    finally:
        await store.close()


async def stored(c: Console, source: str, by: str = "ivr serve") -> int:
    return await c.store.console.store_version("little_shop", source, by=by, origin="file:little_shop.yaml",
                                               note="flow file at start-up")  # fmt: skip


async def audit_actions(c: Console) -> list[tuple[str, str, str]]:
    lines, _ = await c.store.console.list_audit(limit=100, offset=0, action="", actor="")
    return [(x.actor, x.action, x.target) for x in lines if x.action.startswith("flow.")]


# --- list, detail, versions, graph ------------------------------------------------------


async def test_the_list_shows_versions_who_published_them_and_what_is_live(console: Console) -> None:
    await stored(console, shop())
    alice = await console.login("alice")
    status, body = await alice.call("PUT", "/api/flows/little_shop/draft", {"source": shop("Hi."), "revision": 0,
                                                                             "base_version": 1})  # fmt: skip
    assert status == 200 and body["revision"] == 1
    status, data = await alice.call("GET", "/api/flows")
    assert status == 200 and data["can_edit"] is True
    flows = {f["name"]: f for f in data["flows"]}
    assert set(flows) == {"little_shop", "acme_retail"}
    shop_row, acme = flows["little_shop"], flows["acme_retail"]
    assert shop_row["stored"] and shop_row["live"] == 1 and shop_row["draft"]["updated_by"] == "alice"
    assert shop_row["draft"]["source"] is None  # the list never carries draft text
    v1 = shop_row["versions"][0]
    assert (v1["version"], v1["published_by"], v1["origin"], v1["note"], v1["live"]) == (
        1,
        "ivr serve",
        "file:little_shop.yaml",
        "flow file at start-up",
        True,
    )
    assert not acme["stored"] and acme["versions"] == [] and acme["file"].endswith("acme_retail.yaml")
    quinn = await console.login("quinn")
    status, data = await quinn.call("GET", "/api/flows")
    assert status == 200 and data["can_edit"] is False
    ann = await console.login("ann")
    assert (await ann.call("GET", "/api/flows"))[0] == 403
    assert (await ann.call("GET", "/api/flows/little_shop"))[0] == 403


async def test_the_flow_page_gives_editors_the_draft_and_qa_the_live_version(console: Console) -> None:
    await stored(console, shop())
    alice = await console.login("alice")
    await alice.call(
        "PUT", "/api/flows/little_shop/draft", {"source": shop("Draft."), "revision": 0, "base_version": 1}
    )
    status, detail = await alice.call("GET", "/api/flows/little_shop")
    assert status == 200
    assert detail["editor_source"] == shop("Draft.") and detail["draft"]["revision"] == 1
    assert detail["live"] == 1 and detail["live_source"] == shop() and detail["base_version"] == 1
    assert detail["tests_file"].endswith("little_shop.tests.yaml") and detail["can_edit"]
    assert "menu" in detail["form"] and any(f["key"] == "options" for f in detail["form"]["menu"])
    quinn = await console.login("quinn")
    status, detail = await quinn.call("GET", "/api/flows/little_shop")
    assert status == 200 and detail["draft"] is None and detail["editor_source"] == shop() and not detail["can_edit"]
    assert (await alice.call("GET", "/api/flows/nothing_here"))[0] == 404
    assert (await alice.call("GET", "/api/flows/bad%20name"))[0] == 404


async def test_a_file_only_flow_opens_from_its_file(console: Console) -> None:
    alice = await console.login("alice")
    status, detail = await alice.call("GET", "/api/flows/acme_retail")
    assert status == 200 and not detail["stored"] and detail["live"] is None
    assert detail["editor_source"] == (console.flows / "acme_retail.yaml").read_text()
    status, checked = await alice.call("GET", "/api/flows/acme_retail/graph")
    assert status == 200 and checked["ok"]


async def test_versions_and_their_graph(console: Console) -> None:
    await stored(console, shop())
    await stored(console, shop("Hello again."), by="bob")
    quinn = await console.login("quinn")
    status, v1 = await quinn.call("GET", "/api/flows/little_shop/versions/1")
    assert status == 200 and v1["source"] == shop() and v1["published_by"] == "ivr serve"
    assert (await quinn.call("GET", "/api/flows/little_shop/versions/9"))[0] == 404
    assert (await quinn.call("GET", "/api/flows/little_shop/versions/x"))[0] == 404
    status, live = await quinn.call("GET", "/api/flows/little_shop/graph")
    assert status == 200 and live["ok"]
    greeting = next(n for n in live["graph"]["nodes"] if n["id"] == "greeting")
    assert greeting["start"] and greeting["summary"] == "Hello again."
    status, old = await quinn.call("GET", "/api/flows/little_shop/graph?version=1")
    assert next(n for n in old["graph"]["nodes"] if n["id"] == "greeting")["summary"] == "Welcome to the little shop."


async def test_the_demo_flow_graph_labels_keys_intents_conditions_and_failure_paths(console: Console) -> None:
    alice = await console.login("alice")
    source = (console.flows / "acme_retail.yaml").read_text()
    status, checked = await alice.call("POST", "/api/flows/acme_retail/validate", {"source": source})
    assert status == 200 and checked["ok"] and checked["problems"] == []
    graph = checked["graph"]
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert len(graph["nodes"]) == len(checked["steps"]) >= 20
    assert edges[("main_menu", "ask_order_number")]["label"] == "1 · order_status"
    assert edges[("main_menu", "agent_after_failures")] == {
        "id": "main_menu->agent_after_failures", "source": "main_menu", "target": "agent_after_failures",
        "label": "no input\nno match", "kind": "failure"}  # fmt: skip
    assert edges[("read_order", "order_shipped")]["label"] == 'if order.status == "shipped"'
    assert edges[("find_order", "order_not_found")]["label"] == "not found"
    assert edges[("ask_order_number", "find_order")]["kind"] == "next"
    assert next(n for n in graph["nodes"] if n["id"] == "agent")["label"] == "agent\n→ support"


async def test_a_flow_answers_from_its_knowledge_base_as_new_calls_would(console: Console) -> None:
    alice = await console.login("alice")
    source = (console.flows / "acme_retail.yaml").read_text()
    status, checked = await alice.call("POST", "/api/flows/acme_retail/validate", {"source": source})
    assert status == 200 and checked["ok"], checked["problems"]
    edges = {(e["source"], e["target"]): e["label"] for e in checked["graph"]["edges"]}
    assert "FAQ answered" in edges[("main_menu", "anything_else")]
    assert edges[("main_menu", "cannot_answer")] == "no FAQ answer"
    status, r = await alice.call("POST", "/api/flows/acme_retail/simulate", {"source": source, "action": "start"})
    move = {"source": source, "state": r["state"], "action": "say", "text": "how much does shipping cost"}
    status, r = await alice.call("POST", "/api/flows/acme_retail/simulate", move)
    assert status == 200 and next(e for e in r["events"] if e["kind"] == "intent")["intent"] == "faq:delivery_cost"
    assert any("Standard delivery costs four dollars ninety nine" in e["text"] for e in r["events"])
    # A published version of the knowledge base wins over its file, as on the running server.
    await console.store.console.store_version("acme_faq", "knowledge: acme_faq\nentries: []\n", by="bob",
                                              origin="console", kind="knowledge")  # fmt: skip
    status, checked = await alice.call("POST", "/api/flows/acme_retail/validate", {"source": source})
    assert not checked["ok"] and checked["problems"][0]["line"] == 7
    message = checked["problems"][0]["message"]
    assert "knowledge base 'acme_faq' (knowledge base acme_faq version 1) has 1 problem(s)" in message
    status, body = await alice.call("POST", "/api/flows/acme_retail/simulate", {"source": source, "action": "start"})
    assert status == 422 and "knowledge base 'acme_faq'" in body["problems"][0]["message"]
    other = source.replace("knowledge: acme_faq", "knowledge: other_faq")
    status, checked = await alice.call("POST", "/api/flows/acme_retail/validate", {"source": other})
    message = checked["problems"][0]["message"]
    assert "the flow answers from knowledge base 'other_faq', but the one given is none" in message
    status, data = await alice.call("GET", "/api/flows")
    assert "acme_faq" not in {f["name"] for f in data["flows"]}  # a knowledge base is not a flow


# --- validation and the step form ------------------------------------------------------------


async def test_validation_gives_problems_at_their_lines_and_still_draws(console: Console) -> None:
    alice = await console.login("alice")
    status, checked = await alice.call("POST", "/api/flows/little_shop/validate",
                                       {"source": shop(hours_target="hourz")})  # fmt: skip
    assert status == 200 and not checked["ok"]
    lines = shop(hours_target="hourz").splitlines()
    problem = checked["problems"][0]
    assert "'hourz', which is not a step" in problem["message"] and "did you mean 'hours'" in problem["fix"]
    assert "hourz" in lines[problem["line"] - 1]
    missing = next(n for n in checked["graph"]["nodes"] if n["id"] == "hourz")
    assert missing["missing"] and next(n for n in checked["graph"]["nodes"] if n["id"] == "menu")["problems"] == 1
    broken = shop().replace("    next: menu", "    next: menu\n   bad: [")
    status, checked = await alice.call("POST", "/api/flows/little_shop/validate", {"source": broken})
    assert status == 200 and not checked["ok"] and checked["graph"] is None
    bad_line = broken.splitlines().index("   bad: [") + 1
    assert "YAML syntax error" in checked["problems"][0]["message"] and checked["problems"][0]["line"] == bad_line
    status, checked = await alice.call("POST", "/api/flows/little_shop/validate",
                                       {"source": shop().replace("flow: little_shop", "flow: other")})  # fmt: skip
    assert (
        checked["problems"][0]["line"] == 1
        and "this page edits flow 'little_shop'" in checked["problems"][0]["message"]
    )
    quinn = await console.login("quinn")
    assert (await quinn.call("POST", "/api/flows/little_shop/validate", {"source": shop()}))[0] == 403


async def test_the_step_form_rewrites_only_its_step(console: Console) -> None:
    alice = await console.login("alice")
    status, checked = await alice.call("POST", "/api/flows/little_shop/validate", {"source": shop()})
    menu = checked["steps"]["menu"]
    assert menu["kind"] == "menu" and menu["fields"]["options"][0] == {
        "keys": "1", "intent": "hours", "phrases": [], "next": "hours"}  # fmt: skip
    fields = dict(menu["fields"], prompt=["Press 1 for hours."], timeout=7)
    fields["options"] = [*fields["options"], {"keys": "9", "intent": "", "phrases": ["goodbye"], "next": "bye"}]
    status, edited = await alice.call("POST", "/api/flows/little_shop/edit-step",
                                      {"source": shop(), "step": "menu", "fields": fields, "extra": ""})  # fmt: skip
    assert status == 200, edited
    new = edited["source"]
    assert "    prompt: Press 1 for hours.\n" in new and "    timeout: 7\n" in new
    assert '      - {keys: "9", phrases: [goodbye], next: bye}\n' in new
    before, after = shop().split("  menu:")[0], new.split("  menu:")[0]
    tail = shop()[shop().index("  hours:\n    kind: say") :]
    assert before == after and new.endswith("\n\n" + tail)  # nothing else moved
    status, checked = await alice.call("POST", "/api/flows/little_shop/validate", {"source": new})
    assert checked["ok"] and checked["steps"]["menu"]["fields"]["timeout"] == 7
    status, added = await alice.call(
        "POST",
        "/api/flows/little_shop/edit-step",
        {"source": new, "step": "closed", "kind": "say", "fields": {"text": ["We are closed."], "next": "bye"}},
    )
    assert status == 200 and added["source"].endswith(
        "  closed:\n    kind: say\n    text: We are closed.\n    next: bye\n"
    )
    assert added["line"] == len(added["source"].splitlines()) - 3
    status, removed = await alice.call("POST", "/api/flows/little_shop/edit-step",
                                       {"source": added["source"], "step": "closed", "fields": None})  # fmt: skip
    assert status == 200 and removed["source"] == new
    status, body = await alice.call("POST", "/api/flows/little_shop/edit-step",
                                    {"source": "steps: [", "step": "menu", "fields": {}})  # fmt: skip
    assert status == 400 and "fix the YAML first (line" in body["error"]


# --- drafts ------------------------------------------------------------------------------


async def test_two_editors_the_one_who_loses_gets_a_clear_409(console: Console) -> None:
    await stored(console, shop())
    alice, bob = await console.login("alice"), await console.login("bob")
    status, a = await alice.call("PUT", "/api/flows/little_shop/draft",
                                 {"source": shop("Alice was here."), "revision": 0, "base_version": 1})  # fmt: skip
    assert status == 200 and a["revision"] == 1 and a["updated_by"] == "alice"
    status, body = await bob.call("PUT", "/api/flows/little_shop/draft",
                                  {"source": shop("Bob was here."), "revision": 0, "base_version": 1})  # fmt: skip
    assert status == 409
    assert "alice saved this draft (revision 1)" in body["error"] and "your text is kept" in body["error"]
    assert body["current"]["revision"] == 1 and body["current"]["source"] == shop("Alice was here.")
    status, b = await bob.call("PUT", "/api/flows/little_shop/draft",
                               {"source": shop("Bob was here."), "revision": 1, "base_version": 1})  # fmt: skip
    assert status == 200 and b["revision"] == 2
    assert await audit_actions(console) == [
        ("bob", "flow.draft", "little_shop"),
        ("alice", "flow.draft", "little_shop"),
    ]
    await console.store.console.store_version("little_shop", shop("From the CLI."), by="cli", origin="cli")
    status, body = await alice.call("PUT", "/api/flows/little_shop/draft",
                                    {"source": shop("Alice again."), "revision": 2, "base_version": 1})  # fmt: skip
    assert status == 409 and "published or discarded by someone else" in body["error"] and body["current"] is None
    await save(bob, shop("Bob was here."), 0)
    await save(bob, shop("Bob was here."), 1)
    status, body = await alice.call("DELETE", "/api/flows/little_shop/draft", {"revision": 1})
    assert status == 409 and "bob saved the draft (revision 2)" in body["error"]
    status, detail = await alice.call("DELETE", "/api/flows/little_shop/draft", {"revision": 2})
    assert status == 200 and detail["draft"] is None and detail["editor_source"] == shop("From the CLI.")
    quinn = await console.login("quinn")
    assert (await quinn.call("PUT", "/api/flows/little_shop/draft", {"source": "x", "revision": 0}))[0] == 403


async def test_a_malformed_draft_is_kept_and_writes_need_the_csrf_token(console: Console) -> None:
    alice = await console.login("alice")
    broken = shop() + "  oops: [\n"
    status, saved = await alice.call("PUT", "/api/flows/little_shop/draft", {"source": broken, "revision": 0})
    assert status == 200
    status, detail = await alice.call("GET", "/api/flows/little_shop")
    assert detail["editor_source"] == broken and detail["draft"]["revision"] == saved["revision"]
    status, body = await alice.call("PUT", "/api/flows/little_shop/draft", {"source": shop(), "revision": 1},
                                    csrf="forged")  # fmt: skip
    assert status == 403 and "CSRF" in body["error"]
    status, body = await alice.call("POST", "/api/flows/little_shop/validate", {"source": "#" * 70 * 1024})
    assert status == 413 and "64 KB" in body["error"]


# --- test panel, prompts, test cases ------------------------------------------------------


async def test_the_test_panel_talks_to_the_editor_text(console: Console) -> None:
    alice = await console.login("alice")
    source = shop()
    status, r = await alice.call("POST", "/api/flows/little_shop/simulate", {"source": source, "action": "start"})
    assert status == 200, r
    assert [e["text"] for e in r["events"] if e["kind"] == "say"] == [
        "Welcome to the little shop.",
        "Say opening hours or agent, or press 1 for hours and 0 for an agent.",
    ]
    assert r["step"] == "menu" and not r["done"] and r["variables"]["flow"] == "little_shop"
    status, said = await alice.call("POST", "/api/flows/little_shop/simulate",
                                    {"source": source, "state": r["state"], "action": "say",
                                     "text": "could I talk to a person"})  # fmt: skip
    intent = next(e for e in said["events"] if e["kind"] == "intent")
    assert intent["intent"] == "agent" and intent["confidence"] >= 0.4 and intent["ranked"][0][0] == "agent"
    assert said["done"] and said["ended_by"] == "transfer"
    assert any(e["kind"] == "transfer" and "to queue support" in e["text"] for e in said["events"])
    assert said["variables"]["last.intent"] == "agent"
    status, silent = await alice.call("POST", "/api/flows/little_shop/simulate",
                                      {"source": source, "state": r["state"], "action": "silence"})  # fmt: skip
    assert next(e["text"] for e in silent["events"] if e["kind"] == "say") == "Sorry, I didn't hear anything."
    # The supervisor edits the YAML mid-call: the test call goes on with the edited flow.
    edited = source.replace("We are open nine to five.", "We are open around the clock.")
    move = {"source": edited, "state": r["state"], "action": "keys", "text": "1"}
    status, keyed = await alice.call("POST", "/api/flows/little_shop/simulate", move)
    assert status == 200 and keyed["events"][0]["kind"] == "note"
    assert "We are open around the clock." in [e["text"] for e in keyed["events"]] and keyed["ended_by"] == "hangup"
    status, body = await alice.call("POST", "/api/flows/little_shop/simulate",
                                    {"source": source, "state": r["state"], "action": "keys", "text": "x"})  # fmt: skip
    assert status == 400 and "0-9, * and #" in body["error"]
    status, body = await alice.call("POST", "/api/flows/little_shop/simulate",
                                    {"source": shop(hours_target="nowhere"), "action": "start"})  # fmt: skip
    assert status == 422 and "'nowhere', which is not a step" in body["problems"][0]["message"]


async def test_the_test_panel_collects_slots_and_reads_orders_from_the_database(console: Console) -> None:
    await console.store.seed_orders({"12345": {"status": "delivered", "delivered_on": "2025-11-18"}})
    alice = await console.login("alice")
    source = (console.flows / "acme_retail.yaml").read_text()
    status, r = await alice.call("POST", "/api/flows/acme_retail/simulate", {"source": source, "action": "start"})
    for keys in ("1", "12345"):
        move = {"source": source, "state": r["state"], "action": "keys", "text": keys}
        status, r = await alice.call("POST", "/api/flows/acme_retail/simulate", move)
        assert status == 200, r
    assert r["slots"] == {"order_number": "12345"} and r["variables"]["order.status"] == "delivered"
    assert any(e["kind"] == "lookup" and "'12345' in orders" in e["text"] for e in r["events"])
    assert "Order one two three four five was delivered on November eighteenth." in [e["text"] for e in r["events"]]


async def test_prompts_are_heard_through_the_products_tts(console: Console, tmp_path: Path) -> None:
    alice = await console.login("alice")
    status, body = await alice.call("GET", "/api/tts?text=Hello")
    assert status == 503 and "no TTS voice" in body["error"]
    async with await CachedSynthesizer.open(TtsConfig(), tmp_path / "prompts") as voice:
        console.ctx.voice = voice
        async with alice.http.get("/api/tts", params={"text": "Welcome to the little shop."}) as r:
            assert r.status == 200 and r.content_type == "audio/wav"
            audio = await r.read()
    with wave.open(io.BytesIO(audio)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert 0.8 < w.getnframes() / 16000 < 5.0
    ann = await console.login("ann")
    assert (await ann.call("GET", "/api/tts?text=Hello"))[0] == 403


async def test_the_flows_test_cases_run_against_the_draft(console: Console) -> None:
    alice = await console.login("alice")
    status, run = await alice.call("POST", "/api/flows/little_shop/tests", {"source": shop()})
    assert status == 200 and run["file"].endswith("little_shop.tests.yaml")
    assert [(c["name"], c["passed"]) for c in run["cases"]] == [("hours by key", True), ("agent by voice", True)]
    closed = shop().replace("We are open nine to five.", "We are closed.")
    status, run = await alice.call("POST", "/api/flows/little_shop/tests", {"source": closed})
    assert (run["passed"], run["failed"]) == (1, 1)
    failed = run["cases"][0]
    assert not failed["passed"] and "expected the IVR to say 'open nine to five'" in failed["failure"]
    assert (
        "little_shop.tests.yaml:" in failed["failure"] and failed["transcript"][0] == "IVR: Welcome to the little shop."
    )
    status, run = await alice.call("POST", "/api/flows/little_shop/tests", {"source": shop(hours_target="nope")})
    assert status == 200 and run["cases"] == [] and "not a step" in run["problems"][0]["message"]
    status, run = await alice.call("POST", "/api/flows/acme_retail/tests",
                                   {"source": (console.flows / "acme_retail.yaml").read_text()})  # fmt: skip
    assert status == 200 and run["failed"] == 0 and run["passed"] >= 20


# --- replay ------------------------------------------------------------------------------


def seed_call(store: CallStore, call_id: str, version: int | None, inputs: list[tuple[str, str, str]], *,
              status: str = "completed", queue: str = "", seconds: float = 30.0, at: float | None = None,
              flow: str = "little_shop") -> None:  # fmt: skip
    """A recorded call: (caller text, intent, step) turns in order, as the journal stores them."""
    start = at if at is not None else time.time() - 3600
    store.call_started(call_id, caller="sip:+15550100@pbx", flow_name=flow, flow_version=version, at=start)
    store.call_answered(call_id, at=start + 1)
    store.add_turn(call_id, "ivr", "Welcome to the little shop.", start=0.5, at=start + 1)
    for i, (text, intent, step) in enumerate(inputs):
        uid = store.add_turn(call_id, "caller", text, confidence=0.9, start=3.0 + i, intent=intent,
                             intent_score=0.9 if intent else 0.0, at=start + 3 + i)  # fmt: skip
        if intent:
            store.add_intent(call_id, intent, 0.9, turn_uid=uid, step=step, at=start + 3 + i)
    if queue:
        store.call_updated(call_id, queue=queue)
    store.call_ended(call_id, status, hangup_by="caller", at=start + 1 + seconds)


async def test_replaying_recorded_calls_shows_what_the_draft_changes(console: Console) -> None:
    await stored(console, shop())
    seed_call(console.store, "c-keys", 1, [("[keys] 1", "hours", "menu")], at=time.time() - 300)
    seed_call(console.store, "c-voice", 1, [("i'd like a real person please", "agent", "menu")],
              status="transferred", queue="support", at=time.time() - 200)  # fmt: skip
    seed_call(console.store, "c-masked", 1, [("[redacted speech]", "", ""), ("[keys] 1", "hours", "menu")],
              at=time.time() - 100)  # fmt: skip
    assert await console.store.flush(5)
    alice = await console.login("alice")
    # Key 1 now goes to a person; the opening hours moved to key 2.
    draft = shop().replace(
        '{keys: "1", intent: hours, next: hours}',
        '{keys: "1", next: agent}\n      - {keys: "2", intent: hours, next: hours}',
    )
    status, run = await alice.call("POST", "/api/flows/little_shop/replay", {"source": draft, "limit": 10})
    assert status == 200, run
    calls = {c["call_id"]: c for c in run["calls"]}
    assert [c["call_id"] for c in run["calls"]] == ["c-masked", "c-voice", "c-keys"] and run["changed"] == 1
    keys = calls["c-keys"]
    assert keys["changed"] and keys["version"] == 1 and keys["inputs"] == ["[keys] 1"]
    assert keys["before"] == {"step": "bye", "intent": "hours", "transfer": False, "queue": "", "ended_by": "hangup",
                              "path": ["menu", "bye"]}  # fmt: skip
    assert keys["after"]["step"] == "agent" and keys["after"]["transfer"] and keys["after"]["queue"] == "support"
    assert (
        "ends at step 'agent' instead of 'bye'" in keys["changes"]
        and "now transfers to queue support" in keys["changes"]
    )
    assert keys["parted"] == "after input 1 ('[keys] 1'): version 1 waits at 'bye', the draft at 'agent'"
    voice = calls["c-voice"]
    assert not voice["changed"] and voice["before"]["intent"] == "agent" and voice["recorded_status"] == "transferred"
    masked = calls["c-masked"]
    assert masked["replayed"] == 0 and "masked" in masked["note"] and not masked["changed"]
    quinn = await console.login("quinn")
    assert (await quinn.call("POST", "/api/flows/little_shop/replay", {"source": draft}))[0] == 403


# --- publish, rollback, A/B ------------------------------------------------------------------


async def save(client: Client, source: str, revision: int = 0, base: int | None = 1) -> int:
    status, body = await client.call("PUT", "/api/flows/little_shop/draft",
                                     {"source": source, "revision": revision, "base_version": base})  # fmt: skip
    assert status == 200, body
    return int(body["revision"])


async def test_publish_is_refused_while_validation_or_test_cases_fail_and_the_draft_is_kept(console: Console) -> None:
    await stored(console, shop())
    alice = await console.login("alice")
    rev = await save(alice, shop(hours_target="nowhere"))
    status, body = await alice.call("POST", "/api/flows/little_shop/publish", {"draft_revision": rev, "expect_live": 1})
    assert status == 422 and "problem(s); fix them before publishing" in body["error"]
    assert "'nowhere', which is not a step" in body["problems"][0]["message"]
    rev = await save(alice, shop().replace("We are open nine to five.", "We are closed."), rev)
    status, body = await alice.call("POST", "/api/flows/little_shop/publish", {"draft_revision": rev, "expect_live": 1})
    assert (
        status == 422 and "1 of 2 test case(s) fail" in body["error"] and body["failures"][0]["name"] == "hours by key"
    )
    status, detail = await alice.call("GET", "/api/flows/little_shop")
    assert detail["live"] == 1 and detail["draft"]["revision"] == rev and "We are closed." in detail["editor_source"]
    assert [v["version"] for v in detail["versions"]] == [1]
    assert await audit_actions(console) == [("alice", "flow.draft", "little_shop")] * 2


async def test_publish_needs_the_current_draft_and_live_version(console: Console) -> None:
    await stored(console, shop())
    await stored(console, shop("Version two."))
    alice, bob = await console.login("alice"), await console.login("bob")
    status, body = await alice.call("POST", "/api/flows/little_shop/publish", {"draft_revision": 1, "expect_live": 2})
    assert status == 409 and "no saved draft" in body["error"]
    rev = await save(alice, shop("Welcome to the little shop, says Alice."), base=2)
    await save(bob, shop("Welcome to the little shop, says Bob."), rev, base=2)
    status, body = await alice.call("POST", "/api/flows/little_shop/publish", {"draft_revision": rev, "expect_live": 2})
    assert status == 409 and "bob saved the draft (revision 2)" in body["error"]
    await console.store.console.set_live("little_shop", 1, by="carol")  # a rollback meanwhile
    status, body = await bob.call("POST", "/api/flows/little_shop/publish", {"draft_revision": 2, "expect_live": 2})
    assert status == 409 and "version 1 went live (by carol) after you opened version 2" in body["error"]
    for who in ("quinn", "ann"):
        other = await console.login(who)
        assert (await other.call("POST", "/api/flows/little_shop/publish",
                                 {"draft_revision": 2, "expect_live": 1}))[0] == 403  # fmt: skip
    status, body = await bob.call("POST", "/api/flows/little_shop/publish", {"draft_revision": 2, "expect_live": 1},
                                  csrf="wrong")  # fmt: skip
    assert status == 403
    status, done = await bob.call("POST", "/api/flows/little_shop/publish",
                                  {"draft_revision": 2, "expect_live": 1, "note": "friendlier greeting"})  # fmt: skip
    assert status == 200 and (done["version"], done["live"], done["applied"]) == (3, 3, False)
    status, detail = await bob.call("GET", "/api/flows/little_shop")
    assert detail["draft"] is None and detail["live_source"] == shop("Welcome to the little shop, says Bob.")
    v3 = detail["versions"][0]
    assert (v3["version"], v3["published_by"], v3["origin"], v3["note"], v3["live"]) == (
        3, "bob", "console", "friendlier greeting", True)  # fmt: skip
    assert ("bob", "flow.publish", "little_shop") in await audit_actions(console)


async def test_publish_rollback_and_ab_reach_the_running_registry(console: Console, tmp_path: Path) -> None:
    async with await CachedSynthesizer.open(TtsConfig(), tmp_path / "prompts") as voice:
        registry = FlowRegistry(console.store, voice, console.flows / "little_shop.yaml", poll_seconds=30)
        await registry.start()  # stores the flow file as version 1 and serves it
        console.ctx.registry = registry
        try:
            alice = await console.login("alice")
            rev = await save(alice, shop("Welcome to the little shop, now with a new greeting."))
            started = time.perf_counter()
            status, done = await alice.call("POST", "/api/flows/little_shop/publish",
                                            {"draft_revision": rev, "expect_live": 1})  # fmt: skip
            assert status == 200 and done["applied"] and done["version"] == 2, done
            assert time.perf_counter() - started < 10 and done["prewarm_seconds"] > 0
            _, actions = registry.pick().runner.start("c1")
            assert getattr(actions[0], "text", "") == "Welcome to the little shop, now with a new greeting."
            status, detail = await alice.call("GET", "/api/flows/little_shop")
            assert detail["serving"]["live"] == 2
            status, back = await alice.call("POST", "/api/flows/little_shop/live", {"version": 1, "expect_live": 2})
            assert status == 200 and back["live"] == 1 and back["applied"]
            assert registry.pick().version == 1
            status, body = await alice.call("POST", "/api/flows/little_shop/live", {"version": 2, "expect_live": 2})
            assert status == 409 and "reload the page" in body["error"]
            status, body = await alice.call("POST", "/api/flows/little_shop/live", {"version": 7, "expect_live": 1})
            assert status == 404 and "no version 7" in body["error"]
            status, ab = await alice.call("PUT", "/api/flows/little_shop/ab", {"version": 2, "share": 10})
            assert status == 200 and (ab["live"], ab["candidate"], ab["share"], ab["applied"]) == (1, 2, 10, True)
            assert registry.status().candidate == 2 and registry.status().share == 10
            status, body = await alice.call("PUT", "/api/flows/little_shop/ab", {"version": 1, "share": 10})
            assert status == 400 and "already live" in body["error"]
            status, body = await alice.call("PUT", "/api/flows/little_shop/ab", {"version": 2, "share": 100})
            assert status == 400 and "make it live instead" in body["error"]
            status, ended = await alice.call("PUT", "/api/flows/little_shop/ab", {"version": None, "share": 0})
            assert status == 200 and ended["candidate"] is None and registry.status().candidate is None
            quinn = await console.login("quinn")
            assert (await quinn.call("POST", "/api/flows/little_shop/live", {"version": 2, "expect_live": 1}))[0] == 403
            assert (await quinn.call("PUT", "/api/flows/little_shop/ab", {"version": 2, "share": 5}))[0] == 403
            audited = [a for _, a, _ in await audit_actions(console)]
            assert audited == ["flow.ab", "flow.ab", "flow.rollback", "flow.publish", "flow.draft"]
        finally:
            await registry.stop()


async def test_versions_are_compared_on_containment_transfers_no_match_and_length(console: Console) -> None:
    await stored(console, shop())
    await stored(console, shop("Hi."))
    await console.store.console.set_candidate("little_shop", 1, 20, by="alice")
    now = time.time() - 600
    seed_call(console.store, "a1", 1, [("[keys] 1", "hours", "menu")], seconds=20, at=now)
    seed_call(console.store, "a2", 1, [("mumble", "", ""), ("agent", "agent", "menu")], status="transferred",
              queue="support", seconds=40, at=now + 1)  # fmt: skip
    seed_call(console.store, "b1", 2, [("hours please", "hours", "menu")], seconds=10, at=now + 2)
    seed_call(console.store, "b2", 2, [("[keys] 1", "hours", "menu")], seconds=12, at=now + 3)
    seed_call(console.store, "b3", 2, [("uh", "", ""), ("what", "", "")], status="abandoned", seconds=30, at=now + 4)
    seed_call(console.store, "old", 2, [("[keys] 1", "hours", "menu")], at=time.time() - 40 * 86400)
    assert await console.store.flush(5)
    quinn = await console.login("quinn")
    status, stats = await quinn.call("GET", "/api/flows/little_shop/stats?days=30")
    assert status == 200 and stats["days"] == 30
    by = {v["version"]: v for v in stats["versions"]}
    assert [v["version"] for v in stats["versions"]] == [2, 1]  # live first, then the A/B candidate
    v1, v2 = by[1], by[2]
    assert v1["candidate"] and (v1["calls"], v1["contained"], v1["transferred"]) == (2, 1, 1)
    assert (v1["containment"], v1["transfer_rate"], v1["no_match_rate"]) == (0.5, 0.5, round(1 / 3, 4))
    assert v1["mean_seconds"] == 30.0 and v1["median_seconds"] == 30.0
    assert v2["live"] and (v2["calls"], v2["contained"], v2["transferred"], v2["abandoned"]) == (3, 2, 0, 1)
    assert v2["no_match_rate"] == 0.5 and v2["mean_seconds"] == round((10 + 12 + 30) / 3, 2)
    assert (await quinn.call("GET", "/api/flows/little_shop/stats?days=0"))[0] == 400


# --- pages -------------------------------------------------------------------------------


async def test_the_pages_render_the_same_data_for_each_role(console: Console) -> None:
    await stored(console, shop())
    alice = await console.login("alice")
    await save(alice, shop("Welcome to the little shop, in a draft."))
    async with alice.http.get("/flows") as r:
        assert r.status == 200 and r.content_type == "text/html"
        listing = await r.text()
    assert 'id="open-little_shop" href="/flows/little_shop"' in listing and "revision 1" in listing
    async with alice.http.get("/flows/little_shop") as r:
        assert r.status == 200
        page = await r.text()
    data = json.loads(page.split('<script type="application/json" id="page-data">')[1].split("</script>")[0])
    assert data["name"] == "little_shop" and data["editor_source"] == shop("Welcome to the little shop, in a draft.")
    for needed in ('id="publish-open"', 'id="save-draft"', 'id="sim-start"', 'id="rollback-', "js/flow.js"):
        assert needed in page or (needed == 'id="rollback-' and len(data["versions"]) == 1), needed
    for asset in ("/static/flow.css", "/static/js/flow.js", "/static/js/flow_graph.js", "/static/js/flow_form.js",
                  "/static/js/flow_try.js", "/static/js/flow_versions.js"):  # fmt: skip
        async with alice.http.get(asset) as r:
            assert r.status == 200, asset
    quinn = await console.login("quinn")
    async with quinn.http.get("/flows/little_shop") as r:
        assert r.status == 200
        page = await r.text()
    assert 'id="publish-open"' not in page and "Read only" in page
    ann = await console.login("ann")
    async with ann.http.get("/flows") as r:
        assert r.status == 403
    async with ann.http.get("/flows/little_shop", allow_redirects=False) as r:
        assert r.status == 403
    async with alice.http.get("/flows/nothing_here") as r:
        assert r.status == 404

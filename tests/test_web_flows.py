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
    shutil.copy(REPO / "flows" / "acme_retail.yaml", flows)
    shutil.copy(REPO / "flows" / "acme_retail.tests.yaml", flows)
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
        1, "ivr serve", "file:little_shop.yaml", "flow file at start-up", True)
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
    await alice.call("PUT", "/api/flows/little_shop/draft", {"source": shop("Draft."), "revision": 0, "base_version": 1})
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
    assert checked["problems"][0]["line"] == 1 and "this page edits flow 'little_shop'" in checked["problems"][0]["message"]
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
    status, added = await alice.call("POST", "/api/flows/little_shop/edit-step", {
        "source": new, "step": "closed", "kind": "say", "fields": {"text": ["We are closed."], "next": "bye"}})
    assert status == 200 and added["source"].endswith("  closed:\n    kind: say\n    text: We are closed.\n    next: bye\n")
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
    assert await audit_actions(console) == [("bob", "flow.draft", "little_shop"), ("alice", "flow.draft", "little_shop")]
    status, body = await alice.call("DELETE", "/api/flows/little_shop/draft", {"revision": 1})
    assert status == 409 and "bob saved the draft (revision 2)" in body["error"]
    status, detail = await alice.call("DELETE", "/api/flows/little_shop/draft", {"revision": 2})
    assert status == 200 and detail["draft"] is None and detail["editor_source"] == shop()
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

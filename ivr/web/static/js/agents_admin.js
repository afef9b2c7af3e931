// Agents and queues: the tables, and one form each to add or change (PUT) and a button to remove (DELETE).
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  let roster = JSON.parse(document.getElementById("page-data").textContent);
  const $ = (id) => document.getElementById(id);
  const agentForm = $("agent-form"), queueForm = $("queue-form");
  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function render() {
    $("agents").tBodies[0].replaceChildren(...roster.agents.map((a) => el("tr", { "data-agent": a.id },
      el("td", {}, el("strong", {}, a.id)), el("td", {}, a.name), el("td", { class: "mono" }, a.sip_uri),
      el("td", {}, a.queues.join(", ")), el("td", {}, a.skills.join(", ")), el("td", {}, a.user || el("span", { class: "muted" }, a.id)),
      el("td", {}, el("span", { class: `badge state-${a.state}` }, a.state === "offline" ? "logged out" : a.state.replace("_", " "))),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => editAgent(a) }, "Edit"),
        el("button", { type: "button", class: "danger", onclick: () => removeAgent(a) }, "Remove")))));
    $("queues").tBodies[0].replaceChildren(...roster.queues.map((q) => el("tr", { "data-queue": q.name },
      el("td", {}, el("strong", {}, q.name)), el("td", {}, q.strategy.replace("_", " ")), el("td", {}, `${q.ring_timeout} s`),
      el("td", {}, `${q.wrap_up} s`), el("td", {}, q.max_wait ? `${q.max_wait} s` : "never"), el("td", {}, q.overflow || "none"),
      el("td", {}, `${Math.round(q.service_level_target * 100)}% in ${q.service_level_seconds} s`),
      el("td", {}, roster.agents.filter((a) => a.queues.includes(q.name)).map((a) => a.id).join(", ")),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => editQueue(q) }, "Edit"),
        el("button", { type: "button", class: "danger", onclick: () => removeQueue(q) }, "Remove")))));
    const picked = new Set(Array.from(agentForm.querySelectorAll("#agent-queues input:checked")).map((i) => i.value));
    $("agent-queues").replaceChildren(...roster.queues.map((q) => el("label", {},
      el("input", { type: "checkbox", value: q.name, checked: picked.has(q.name) }), q.name)));
  }

  function editAgent(a) {
    agentForm.elements.id.value = a.id; agentForm.elements.id.readOnly = true;
    agentForm.elements.name.value = a.name; agentForm.elements.sip_uri.value = a.sip_uri;
    agentForm.elements.skills.value = a.skills.join(", "); agentForm.elements.user.value = a.user;
    agentForm.querySelectorAll("#agent-queues input").forEach((i) => { i.checked = a.queues.includes(i.value); });
    $("agent-form-title").textContent = `Change agent ${a.id}`;
    agentForm.scrollIntoView({ block: "center" });
  }
  function newAgent() { agentForm.reset(); agentForm.elements.id.readOnly = false; $("agent-form-title").textContent = "Add an agent"; render(); }

  agentForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = agentForm.elements;
    const body = { name: f.name.value, sip_uri: f.sip_uri.value.trim(), skills: list(f.skills.value), user: f.user.value,
      queues: Array.from(agentForm.querySelectorAll("#agent-queues input:checked")).map((i) => i.value) };
    try {
      roster = await api("PUT", `/api/agents/${encodeURIComponent(f.id.value.trim())}`, body);
      toast(`Agent ${f.id.value} saved and applied`);
      newAgent();
    } catch (err) { toast(err.message, "error"); }
  });
  $("agent-new").addEventListener("click", newAgent);

  async function removeAgent(a) {
    if (!confirm(`Remove agent ${a.id}? They log out after the call they are on.`)) return;
    try { await api("DELETE", `/api/agents/${encodeURIComponent(a.id)}`); roster = await api("GET", "/api/agents"); render(); toast(`Agent ${a.id} removed`); }
    catch (err) { toast(err.message, "error"); }
  }

  const NUMBERS = ["ring_timeout", "wrap_up", "max_wait", "announce_interval", "service_level_seconds", "service_level_target",
    "wait_alert_seconds", "handle_time"];
  function editQueue(q) {
    const f = queueForm.elements;
    f.name.value = q.name; f.name.readOnly = true;
    for (const k of [...NUMBERS, "strategy", "overflow", "no_answer"]) f[k].value = q[k];
    f.overflow_when_no_agents.checked = q.overflow_when_no_agents;
    f.survey.checked = q.survey;
    $("queue-form-title").textContent = `Change queue ${q.name}`;
    queueForm.scrollIntoView({ block: "center" });
  }
  function newQueue() { queueForm.reset(); queueForm.elements.name.readOnly = false; $("queue-form-title").textContent = "Add a queue"; }

  queueForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = queueForm.elements;
    const body = { strategy: f.strategy.value, overflow: f.overflow.value.trim(), no_answer: f.no_answer.value,
      overflow_when_no_agents: f.overflow_when_no_agents.checked, survey: f.survey.checked };
    for (const k of NUMBERS) body[k] = Number(f[k].value);
    const old = roster.queues.find((q) => q.name === f.name.value);
    if (old) body.hold_music = old.hold_music;
    try {
      roster = await api("PUT", `/api/queues/${encodeURIComponent(f.name.value.trim())}`, body);
      render();
      toast(`Queue ${f.name.value} saved and applied`);
      newQueue();
    } catch (err) { toast(err.message, "error"); }
  });
  $("queue-new").addEventListener("click", newQueue);

  async function removeQueue(q) {
    if (!confirm(`Remove queue ${q.name}?`)) return;
    try { await api("DELETE", `/api/queues/${encodeURIComponent(q.name)}`); roster = await api("GET", "/api/agents"); render(); toast(`Queue ${q.name} removed`); }
    catch (err) { toast(err.message, "error"); }
  }

  render();
})();

// Retention and privacy page: save retention per kind of data, purge now, find a caller's calls and erase them.
"use strict";
(function () {
  const { api, toast, el, when } = window.ivr;

  for (const row of document.querySelectorAll("#retention tbody tr")) {
    row.querySelector(".save").addEventListener("click", async () => {
      const raw = row.querySelector(".days").value.trim();
      const days = raw === "" ? null : Number(raw);
      try {
        await api("PUT", "/api/retention", { kind: row.dataset.kind, days });
        toast(`${row.dataset.kind}: kept ${days ? days + " days" : "forever"}`);
        setTimeout(() => location.reload(), 600);
      } catch (e) { toast(e.message, "error"); }
    });
  }

  document.getElementById("purge").addEventListener("click", async () => {
    if (!confirm("Delete every recording, transcript and slot value past its retention now?")) return;
    try {
      const r = await api("POST", "/api/retention/purge");
      toast(`Deleted ${r.recordings} recording(s), ${r.turns} turn(s), ${r.slots} slot value(s)`);
    } catch (e) { toast(e.message, "error"); }
  });

  let found = null;
  const box = document.getElementById("caller-calls");
  document.getElementById("find-caller").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const number = new FormData(ev.target).get("number");
    try {
      found = await api("GET", "/api/privacy/caller?number=" + encodeURIComponent(number));
    } catch (e) { toast(e.message, "error"); return; }
    const body = box.querySelector("tbody");
    body.replaceChildren(...found.calls.map((c) => el("tr", {},
      el("td", {}, when(c.started_at)), el("td", { class: "mono" }, c.caller),
      el("td", {}, el("a", { href: "/calls/" + encodeURIComponent(c.call_id) }, c.call_id)))));
    document.getElementById("caller-summary").textContent =
      `${found.calls.length} stored call(s) from ${found.number}.`;
    document.getElementById("erase").disabled = found.calls.length === 0;
    box.hidden = false;
  });

  document.getElementById("erase").addEventListener("click", async () => {
    if (!found || !confirm(`Erase all ${found.calls.length} call(s) of ${found.number}? This cannot be undone.`)) return;
    try {
      const r = await api("POST", "/api/privacy/erase", { number: found.number, expect_calls: found.calls.length });
      toast(`Erased ${r.calls} call(s), ${r.turns} turn(s), ${r.recordings} recording(s). Audit reference ${r.reference}.`);
      box.hidden = true;
      found = null;
    } catch (e) { toast(e.message, "error"); }
  });
})();

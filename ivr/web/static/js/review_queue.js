// Review queue page: draw a random sample of a day's calls per agent, then reload to list them.
"use strict";
(function () {
  const { api, toast } = window.ivr;
  const form = document.getElementById("sample");
  const day = form.elements.day;
  if (!day.value) {
    const y = new Date(Date.now() - 86400000);
    day.value = y.toISOString().slice(0, 10); // yesterday (UTC): a finished day
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const card = form.elements.scorecard_id.value;
    try {
      const r = await api("POST", "/api/qa/sample", { day: day.value, percent: Number(form.elements.percent.value),
        scorecard_id: card ? Number(card) : null, include_bot_calls: form.elements.include_bot_calls.checked });
      toast(r.added.length ? `${r.added.length} call${r.added.length === 1 ? "" : "s"} added to the queue` : "No new calls to sample that day");
      setTimeout(() => { location.href = `/qa/queue?status=pending&day=${day.value}`; }, 600);
    } catch (e) { toast(e.message, "error"); }
  });
})();

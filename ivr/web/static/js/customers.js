// Customers page: add, change and remove known customers through /api/customers.
"use strict";
(function () {
  const { api, toast } = window.ivr;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const byId = Object.fromEntries(data.customers.map((c) => [c.id, c]));
  const form = document.getElementById("customer");
  const submit = form.querySelector('button[type="submit"]');
  const cancel = document.getElementById("cancel");
  const title = document.getElementById("form-title");
  const reload = () => setTimeout(() => location.reload(), 600);

  function editing(c) {
    form.elements.id.value = c ? c.id : "";
    form.elements.name.value = c ? c.name : "";
    form.elements.tier.value = c ? c.tier : "standard";
    form.elements.numbers.value = c ? c.numbers.join(", ") : "";
    form.elements.notes.value = c ? c.notes : "";
    title.textContent = c ? `Change ${c.name} (${c.id})` : "Add a customer";
    submit.textContent = c ? "Save changes" : "Add customer";
    cancel.hidden = !c;
    if (c) form.elements.name.focus();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = form.elements.id.value;
    const body = {
      name: form.elements.name.value.trim(),
      tier: form.elements.tier.value.trim() || "standard",
      notes: form.elements.notes.value.trim(),
      numbers: form.elements.numbers.value.split(/[,;\n]/).map((n) => n.trim()).filter(Boolean),
    };
    try {
      const saved = id ? await api("PUT", `/api/customers/${encodeURIComponent(id)}`, body)
                       : await api("POST", "/api/customers", body);
      toast(`${saved.name} ${id ? "saved" : "added"} (${saved.id})`);
      reload();
    } catch (e) { toast(e.message, "error"); }
  });
  cancel.addEventListener("click", () => editing(null));

  for (const row of document.querySelectorAll("#customers tbody tr[data-customer]")) {
    const c = byId[row.dataset.customer];
    row.querySelector(".edit").addEventListener("click", () => editing(c));
    row.querySelector(".remove").addEventListener("click", async () => {
      if (!confirm(`Remove ${c.name}? Calls from ${c.numbers.join(", ")} will no longer be recognized.`)) return;
      try { await api("DELETE", `/api/customers/${encodeURIComponent(c.id)}`); toast(`${c.name} removed`); reload(); }
      catch (e) { toast(e.message, "error"); }
    });
  }
})();

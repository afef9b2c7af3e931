// Users page: add users, change roles, disable, set passwords, all through /api/users.
"use strict";
(function () {
  const { api, toast } = window.ivr;
  const reload = () => setTimeout(() => location.reload(), 600);

  document.getElementById("new-user").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api("POST", "/api/users", Object.fromEntries(f.entries()));
      toast(`User ${f.get("username")} added`);
      reload();
    } catch (e) { toast(e.message, "error"); }
  });

  for (const row of document.querySelectorAll("#users tbody tr")) {
    const name = row.dataset.user;
    const patch = async (change, done) => {
      try { await api("PATCH", `/api/users/${encodeURIComponent(name)}`, change); toast(done); reload(); }
      catch (e) { toast(e.message, "error"); }
    };
    row.querySelector(".role").addEventListener("change", (ev) => patch({ role: ev.target.value }, `${name} is now ${ev.target.value}`));
    const toggle = row.querySelector(".toggle");
    toggle.addEventListener("click", () => {
      const disable = toggle.textContent.trim() === "Disable";
      patch({ disabled: disable }, `${name} ${disable ? "disabled" : "enabled"}`);
    });
    row.querySelector(".reset").addEventListener("click", () => {
      const pw = prompt(`New password for ${name} (10 characters or more):`);
      if (pw) patch({ password: pw }, `Password of ${name} changed`);
    });
  }
})();

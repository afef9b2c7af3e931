// Follow-up tasks page: assign a task, close it with a note, or reopen it; each change goes through the API.
"use strict";
(function () {
  const { api, toast } = window.ivr;
  const table = document.getElementById("tasks");

  async function change(id, body, done) {
    try {
      await api("PATCH", `/api/tasks/${id}`, body);
      toast(done);
      setTimeout(() => location.reload(), 500);
    } catch (e) { toast(e.message, "error"); }
  }

  table.addEventListener("change", (ev) => {
    const select = ev.target.closest("select.assignee");
    if (!select) return;
    const id = select.closest("tr").dataset.task;
    change(id, { assignee: select.value }, select.value ? `Task assigned to ${select.value}` : "Task unassigned");
  });

  table.addEventListener("click", (ev) => {
    const row = ev.target.closest("tr[data-task]");
    if (!row) return;
    const id = row.dataset.task;
    if (ev.target.matches("button.close-open")) {
      const form = table.querySelector(`tr[data-for="${id}"] form.close-form`);
      form.hidden = !form.hidden;
      if (!form.hidden) form.elements.note.focus();
    } else if (ev.target.matches("button.reopen")) {
      change(id, { reopen: true }, "Task reopened");
    }
  });

  table.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form.close-form");
    if (!form) return;
    ev.preventDefault();
    const id = form.closest("tr").dataset.for;
    change(id, { close_note: form.elements.note.value }, "Task closed");
  });
})();

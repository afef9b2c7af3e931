// Account page: change your own password.
"use strict";
(function () {
  const { api, toast } = window.ivr;
  document.getElementById("password").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api("POST", "/api/account/password", { current: f.get("current"), new: f.get("new") });
      toast("Password changed");
      ev.target.reset();
    } catch (e) { toast(e.message, "error"); }
  });
})();

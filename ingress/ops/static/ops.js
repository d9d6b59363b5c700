// The dashboard's little JavaScript: live refresh (paused while the tab is hidden), and the action buttons
// (a confirmation first where the button asks for one). No framework, nothing loaded from elsewhere.
(function () {
  "use strict";
  var KEY = "ops-refresh-seconds";
  var timer = null;

  function toast(text, bad) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.className = bad ? "show bad" : "show";
    clearTimeout(box._hide);
    box._hide = setTimeout(function () { box.className = ""; }, 6000);
  }

  async function refresh() {
    var live = document.getElementById("live");
    if (!live || document.hidden) return;
    try {
      var response = await fetch(location.href, {headers: {"Accept": "text/html"}, credentials: "same-origin"});
      if (!response.ok) return;
      var page = new DOMParser().parseFromString(await response.text(), "text/html");
      var fresh = page.getElementById("live");
      if (!fresh) return;
      live.innerHTML = fresh.innerHTML;
      var stamp = document.getElementById("rendered-at");
      if (stamp) stamp.textContent = fresh.getAttribute("data-rendered") || "";
    } catch (e) { /* the next tick tries again */ }
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    var picker = document.getElementById("refresh-interval");
    var seconds = picker ? Number(picker.value) : 0;
    if (seconds > 0 && !document.hidden) timer = setInterval(refresh, seconds * 1000);
  }

  async function act(button) {
    var question = button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    var options = {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"}};
    var body = button.getAttribute("data-body");
    if (body) options.body = body;
    try {
      var response = await fetch(button.getAttribute("data-post"), options);
      var answer = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        toast("Refused (" + response.status + "): " + ((answer.error && answer.error.message) || ""), true);
        button.disabled = false;
        return;
      }
      toast(describe(answer));
    } catch (e) {
      toast("The service did not answer.", true);
      button.disabled = false;
      return;
    }
    await refresh();
  }

  function describe(answer) {
    if ("retried" in answer) return answer.retried + " dead letter(s) queued again.";
    if ("discarded" in answer) return answer.discarded + " dead letter(s) discarded.";
    if (answer.status === "queued") return "Dead letter " + answer.event_id + " queued again.";
    if (answer.status === "discarded") return "Dead letter " + answer.event_id + " discarded.";
    if ("released" in answer) return answer.released + " event(s) of " + answer.rep_email + " queued again.";
    if (answer.paused) return answer.rep_email + " paused: their calls wait.";
    return "Done.";
  }

  document.addEventListener("click", function (click) {
    var button = click.target.closest("button[data-post]");
    if (button) { click.preventDefault(); act(button); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var picker = document.getElementById("refresh-interval");
    if (!picker) return;
    var saved = localStorage.getItem(KEY);
    if (saved !== null) picker.value = saved;
    picker.addEventListener("change", function () { localStorage.setItem(KEY, picker.value); schedule(); });
    document.addEventListener("visibilitychange", function () {
      schedule();
      if (!document.hidden) refresh();  // back on the tab: show the present at once
    });
    schedule();
  });
})();

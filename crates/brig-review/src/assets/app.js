// brig review: reload a page when what it shows changed (new or answered approval requests,
// new sessions or records), unless the reviewer is typing. Same-origin fetches only.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-poll");
  // Remember the approver name across reloads (this tab only).
  document.querySelectorAll("input[name=approver]").forEach(function (i) {
    var saved = window.sessionStorage.getItem("brig-approver");
    if (saved && !i.value) { i.value = saved; }
    i.addEventListener("input", function () {
      window.sessionStorage.setItem("brig-approver", i.value);
    });
  });
  if (!url) { return; }
  var state = body.getAttribute("data-state");
  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (t) {
        var a = document.activeElement;
        var typing = a && a.tagName === "INPUT" && a.type === "text";
        if (t !== null && t !== state && !typing) { window.location.reload(); }
      })
      .catch(function () {})
      .then(function () { window.setTimeout(tick, 1000); });
  }
  window.setTimeout(tick, 1000);
})();

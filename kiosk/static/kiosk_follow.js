// Issue 13 (device): the kiosk page follows the hall device loop's conversation (xiaodian kiosk run).
// Opened as /?device=NAME#screen=KEY (xiaodian kiosk page-url); without them this file does nothing.
// What the loop hears and 小电 says, and a card read ("已识别：张*华"), are shown through the page's own
// render(); the device speaks, so the page plays nothing of these turns.
(function () {
  "use strict";
  var device = new URLSearchParams(location.search).get("device");
  var key = new URLSearchParams(location.hash.replace(/^#/, "")).get("screen");
  var page = window.xiaodianKiosk;
  if (!device || !key || !page) { return; }
  var seq = 0, shownReply = "", sessionId = null, POLL_MS = 700;

  function identified(text) {
    var line = document.getElementById("identified");
    if (!line) {
      line = document.createElement("p");
      line.id = "identified";
      line.className = "label identified";
      line.setAttribute("role", "status");
      var conversation = document.querySelector(".conversation");
      conversation.insertBefore(line, conversation.firstChild);
    }
    line.textContent = text || "";
    line.hidden = !text;
  }

  function show(screen) {
    if (screen.session_id !== sessionId) {
      var following = !!sessionId;
      sessionId = screen.session_id;
      if (following && !sessionId) { page.startOver(); shownReply = ""; }  // the loop started over
      if (sessionId) { page.adopt(sessionId); }  // a typed question continues the device's conversation
    }
    identified(screen.identified);
    if (screen.status === "小电正在想…") { page.setBusy(true); } else { page.setBusy(false); }
    if (screen.status !== "小电正在想…") { page.setStatus(screen.status || ""); }
    var reply = screen.reply ? JSON.stringify(screen.reply) : "";
    if (reply && reply !== shownReply) {
      shownReply = reply;
      page.render(screen.reply, screen.heard);
    }
  }

  // 重新开始 or the page's idle reset: the screen (and through it the device loop) starts over too.
  document.addEventListener("xiaodian:start-over", function () {
    if (!sessionId) { return; }
    sessionId = "";
    shownReply = "";
    identified("");
    fetch("/api/kiosk/screen", { method: "POST", headers: { "Content-Type": "application/json", "X-Kiosk-Screen-Key": key },
      body: JSON.stringify({ device: device, session_id: "", state: { status: "", heard: "", reply: null, identified: "" } })
    }).catch(function () {});
  });

  function poll() {
    fetch("/api/kiosk/screen?device=" + encodeURIComponent(device) + "&after=" + seq,
          { headers: { "X-Kiosk-Screen-Key": key }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (screen) {
        if (screen && screen.seq > seq) { seq = screen.seq; show(screen); }
      })
      .catch(function () { /* the service restarts: keep asking */ })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();

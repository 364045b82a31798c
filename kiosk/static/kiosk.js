// Kiosk page: typed questions to /api/converse, spoken ones over /ws/converse; answers shown large and spoken.
// Plain JavaScript, no build step, nothing fetched from outside.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ORDINALS = ["一", "二", "三", "四", "五"];
  var KEEPS_PAYMENT = { repeat: true, slower: true };  // 再说一遍 / 说慢点 repeat an answer that showed the QR code
  var body = document.body;
  var IDLE_S = parseFloat(body.getAttribute("data-idle-s")) || 60;
  var IDLE_WARNING_S = parseFloat(body.getAttribute("data-idle-warning-s")) || 20;
  // The longest a question may be (the server's XIAODIAN_MAX_UTTERANCE_S); read when talking starts.
  function maxUtteranceS() { return parseFloat(body.getAttribute("data-max-utterance-s")) || 15; }
  var HANDOFF_POLL_MS = 3000, HANDOFF_POLL_LIMIT = 400;  // about 20 minutes, then the page stops asking
  var FIRST_ANSWER = $("answer").textContent, FIRST_HEARD = $("heard").textContent;

  var sessionId = null;
  var generation = 0;  // bumped by 重新开始: an answer still on its way for the previous customer is dropped
  var lastActivity = Date.now();
  var handoff = null;  // {timer, polls, status}

  function setStatus(text) { $("status").textContent = text || ""; }

  function setBusy(on) {
    $("busy").hidden = !on;
    $("reply").hidden = on;  // the last answer is not mistaken for the answer to this question
    var talk = $("talk");
    talk.classList.toggle("thinking", on);
    talk.setAttribute("aria-busy", on ? "true" : "false");
    if (on) { talk.textContent = "小电正在想…"; } else if (!recording) { talk.textContent = "按住说话"; }
  }

  // Any touch, key or word keeps the customer's conversation; the idle reset only counts quiet time.
  function active() {
    lastActivity = Date.now();
    if (!$("idle").hidden) { $("idle").hidden = true; }
  }

  function showPayment(reply) {
    var payment = $("payment");
    if (reply.pay_url) {
      payment.hidden = false;
      $("pay-button").href = reply.pay_url;
      $("qr").innerHTML = reply.pay_qr_svg || "";
      var svg = $("qr").querySelector("svg");
      if (svg && !svg.getAttribute("viewBox")) {  // scale the whole code to the box (not crop it)
        svg.setAttribute("viewBox", "0 0 " + svg.getAttribute("width") + " " + svg.getAttribute("height"));
      }
      var facts = reply.payment || {};
      $("pay-amount").textContent = facts.amount_yuan || "";
      $("pay-holder").textContent = facts.holder || "";
    } else if (!KEEPS_PAYMENT[reply.intent]) {
      hidePayment();
    }
  }

  function hidePayment() {
    $("payment").hidden = true;
    $("qr").innerHTML = "";
    $("pay-button").href = "#";
    $("pay-amount").textContent = "";
    $("pay-holder").textContent = "";
  }

  function render(reply, heard) {
    sessionId = reply.session_id || sessionId;
    if (heard !== undefined) { showHeard(heard || "（没有听清）", false); }
    $("answer").textContent = reply.text;
    // Reminders that waited for this customer's card (the kiosk channel of the daily reminders).
    (reply.notices || []).forEach(function (notice) {
      var line = document.createElement("p");
      line.className = "notice";
      line.textContent = "提醒：" + notice;
      $("answer").appendChild(line);
    });
    var emergency = reply.intent === "emergency" || (reply.handoff && reply.handoff.reason === "emergency");
    $("reply").classList.toggle("emergency", !!emergency);
    $("emergency").hidden = !emergency;
    var choices = $("choices");
    choices.innerHTML = "";
    (reply.choices || []).forEach(function (choice, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.textContent = (ORDINALS[index] || index + 1) + "、" + choice.title;
      button.addEventListener("click", function () { send(ORDINALS[index] || String(index + 1)); });
      choices.appendChild(button);
    });
    showPayment(reply);
    if (reply.handoff) { followHandoff(reply.handoff); }
    if (reply.speech_url) {
      var voice = $("voice");
      voice.src = reply.speech_url;
      voice.play().catch(function () { /* autoplay may be blocked until the first touch */ });
    }
    $("scroll").scrollTop = 0;
    // On a small screen the QR code and the amount come into view (the answer can be scrolled back to).
    if (!$("payment").hidden) { $("payment").scrollIntoView({ block: "nearest" }); }
    active();
    if (reply.end) { sessionId = null; }
  }

  function showHeard(text, partial) {
    var heard = $("heard");
    heard.textContent = partial ? text + "……" : text;
    heard.classList.toggle("partial", !!partial);
  }

  function failed(response) {
    return response.json().then(function (problem) {
      throw new Error((problem && problem.detail) || "出了点问题，请再试一次。");
    }, function () { throw new Error("出了点问题，请再试一次。"); });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) { setStatus("请先输入您想问的话。"); return; }
    // One turn at a time: a double tap before the first answer (and its session) would start a second conversation.
    if (!$("busy").hidden) { setStatus("小电正在想，请稍等。"); return; }
    setStatus("");
    setBusy(true);
    showHeard(text, false);
    var started = performance.now(), asked = generation;
    fetch("/api/converse", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: sessionId, text: text, channel: "kiosk" })
    }).then(function (response) { return response.ok ? response.json() : failed(response); })
      .then(function (reply) { if (asked === generation) { setBusy(false); render(reply); answered(started); } })
      .catch(function (error) { if (asked === generation) { setBusy(false); setStatus(error.message); } });
  }

  // How long from the end of the question (release, or send) to the answer on screen: read by the tests.
  function answered(since) { body.setAttribute("data-answer-ms", String(Math.round(performance.now() - since))); }

  // --- staff: after a handoff the page asks (bounded) whether someone has taken over ---
  function followHandoff(ticket) {
    stopHandoff();
    var state = $("handoff-state");
    state.hidden = false;
    state.classList.remove("claimed");
    state.textContent = ticket.reason === "emergency" ? "已通知值班人员，请留在这里，马上有人来。" : "已经通知工作人员，请在这里稍等。";
    var id = sessionId;
    handoff = { polls: 0, status: "waiting", timer: null };
    var current = handoff;
    function poll() {
      if (handoff !== current || !id) { return; }
      current.polls += 1;
      // The id goes in the body: in a URL it would land in access logs (it is the conversation's key).
      fetch("/api/converse/handoff", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ session_id: id })
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (found) {
          if (handoff !== current) { return; }
          if (found && found.status === "claimed" && current.status !== "claimed") {
            current.status = "claimed";
            state.classList.add("claimed");
            state.textContent = "✔ 工作人员已接手，马上来帮您。";
            state.scrollIntoView({ block: "nearest" });
          } else if (found && found.status === "closed") {
            current.status = "closed";
            state.classList.remove("claimed");
            state.textContent = "工作人员已经处理完了。还有问题，可以继续问我。";
          }
          if (current.status !== "closed" && current.polls < HANDOFF_POLL_LIMIT) {
            current.timer = setTimeout(poll, HANDOFF_POLL_MS);
          } else { handoff = null; }
        })
        .catch(function () { if (handoff === current) { current.timer = setTimeout(poll, HANDOFF_POLL_MS); } });
    }
    current.timer = setTimeout(poll, HANDOFF_POLL_MS);
  }

  function stopHandoff() {
    if (handoff && handoff.timer) { clearTimeout(handoff.timer); }
    handoff = null;
  }

  // --- microphone: 16 kHz PCM over the WebSocket; the server end-points, recognises and answers ---
  var recording = null;  // {stream, context, processor, socket, mode, ended, releasedAt, timer}

  function toPcm16(input, fromRate) {
    var ratio = fromRate / 16000;
    var out = new Int16Array(Math.floor(input.length / ratio));
    for (var i = 0; i < out.length; i++) {
      var start = Math.floor(i * ratio), end = Math.min(input.length, Math.floor((i + 1) * ratio));
      var sum = 0;
      for (var j = start; j < end; j++) { sum += input[j]; }
      var s = Math.max(-1, Math.min(1, sum / Math.max(1, end - start)));
      out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
    return out;
  }

  function startTalking(mode) {
    if (recording || !$("busy").hidden) { return; }
    active();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("这台机器用不了麦克风。请在下面打字提问，或者点“转人工”。");
      return;
    }
    setStatus("");
    var current = recording = { mode: mode, pending: true, ended: false, queued: [] };
    var talk = $("talk");
    talk.classList.add("listening");
    talk.textContent = mode === "tap" ? "正在听…说完会自动停" : "正在听，说完松开";
    navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } }).then(function (stream) {
      if (recording !== current) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
      var context = new (window.AudioContext || window.webkitAudioContext)();
      var source = context.createMediaStreamSource(stream);
      var processor = context.createScriptProcessor(4096, 1, 1);
      var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/converse");
      socket.binaryType = "arraybuffer";
      current.stream = stream; current.context = context; current.processor = processor; current.socket = socket;
      current.pending = false;
      socket.onopen = function () {
        socket.send(JSON.stringify({ type: "start", session_id: sessionId, channel: "kiosk" }));
        current.queued.forEach(function (frame) { socket.send(frame); });
        current.queued = [];
        if (current.stopAsked) { socket.send(JSON.stringify({ type: "stop" })); }
      };
      socket.onmessage = function (event) { heardFromServer(current, JSON.parse(event.data)); };
      socket.onclose = function () {
        if (current.done) { return; }
        finish(current);
        setStatus("连接断开了，请再说一遍，或者在下面打字。");
      };
      processor.onaudioprocess = function (event) {
        if (current.micStopped) { return; }
        var frame = toPcm16(event.inputBuffer.getChannelData(0), context.sampleRate).buffer;
        if (socket.readyState === WebSocket.OPEN) { socket.send(frame); } else { current.queued.push(frame); }
      };
      source.connect(processor);
      processor.connect(context.destination);
      // Tap-to-talk stops by itself at the end of speech (the server says so) or after 15 s at most.
      current.timer = setTimeout(function () { stopTalking(current); }, maxUtteranceS() * 1000);
    }).catch(function () {
      if (recording === current) { recording = null; resetTalkButton(); }
      setStatus("没有打开麦克风（可能没有授权）。请在下面打字提问，或者点“转人工”。");
    });
  }

  function stopMicrophone(current) {
    if (current.micStopped) { return; }
    current.micStopped = true;
    clearTimeout(current.timer);
    if (current.processor) { current.processor.disconnect(); }
    if (current.stream) { current.stream.getTracks().forEach(function (t) { t.stop(); }); }
    if (current.context) { current.context.close(); }
  }

  // Released, tapped again, or 15 s: no more audio; the server finishes the utterance and answers.
  function stopTalking(current) {
    current = current || recording;
    if (!current || current !== recording || current.micStopped) { return; }
    current.releasedAt = performance.now();
    if (current.pending) { recording = null; resetTalkButton(); return; }  // the microphone never opened
    stopMicrophone(current);
    if (!current.ended) {
      if (current.socket.readyState === WebSocket.OPEN) { current.socket.send(JSON.stringify({ type: "stop" })); }
      else { current.stopAsked = true; }
    }
    thinking(current);
  }

  function thinking(current) {
    current.thinking = true;
    $("talk").classList.remove("listening");
    setBusy(true);
  }

  function heardFromServer(current, message) {
    if (current.done) { return; }
    if (message.type === "partial") {
      active();
      showHeard(message.text, true);
    } else if (message.type === "listening") {
      active();
    } else if (message.type === "recognizing") {  // the end of speech: stop listening, show the thinking
      active();
      current.ended = true;
      if (!current.micStopped) { current.releasedAt = performance.now(); stopMicrophone(current); }
      thinking(current);
    } else if (message.type === "reply") {
      finish(current);
      render(message.reply, message.transcript);
      if (current.releasedAt) { answered(current.releasedAt); }
    } else if (message.type === "busy" || message.type === "error") {
      finish(current);
      setStatus(message.detail || "出了点问题，请再说一遍。");
    }
  }

  function finish(current) {
    current.done = true;
    stopMicrophone(current);
    if (current.socket && current.socket.readyState <= WebSocket.OPEN) { current.socket.close(); }
    if (recording === current) { recording = null; }
    setBusy(false);
    resetTalkButton();
  }

  function resetTalkButton() {
    var talk = $("talk");
    talk.classList.remove("listening", "thinking");
    talk.textContent = "按住说话";
  }

  // Hold to talk; a short tap listens until the end of speech (or a second tap, or 15 s).
  var pressedAt = 0;
  var talk = $("talk");
  talk.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    if (recording && recording.mode === "tap") { stopTalking(); pressedAt = 0; return; }
    pressedAt = Date.now();
    startTalking("hold");
  });
  talk.addEventListener("pointerup", function () {
    if (!pressedAt || !recording) { pressedAt = 0; return; }
    if (Date.now() - pressedAt < 400) { recording.mode = "tap"; $("talk").textContent = "正在听…说完会自动停"; }
    else { stopTalking(); }
    pressedAt = 0;
  });
  talk.addEventListener("pointerleave", function () {
    if (pressedAt && recording && recording.mode === "hold") { stopTalking(); pressedAt = 0; }
  });
  // Enter and Space: tap to talk from a keyboard or a switch.
  talk.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") { return; }
    event.preventDefault();
    if (event.repeat) { return; }
    if (recording) { stopTalking(); } else { startTalking("tap"); }
  });
  talk.addEventListener("click", function (event) { event.preventDefault(); });

  document.querySelectorAll("[data-say]").forEach(function (button) {
    button.addEventListener("click", function () { send(button.getAttribute("data-say")); });
  });
  $("type-form").addEventListener("submit", function (event) {
    event.preventDefault();
    send($("typed").value);
    $("typed").value = "";
  });

  // --- start over: by the button, or after a quiet while ("还在吗？" counts down first) ---
  function startOver() {
    var old = sessionId;
    sessionId = null;
    generation += 1;
    document.dispatchEvent(new CustomEvent("xiaodian:start-over"));  // issue 13 (device): the hall loop starts over too
    if (old) {  // gone on the server too: the next customer can never reach this conversation
      fetch("/api/converse/forget", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ session_id: old }), keepalive: true }).catch(function () {});
    }
    if (recording) { finish(recording); }
    stopHandoff();
    var voice = $("voice");
    voice.pause();
    voice.removeAttribute("src");
    showHeard(FIRST_HEARD, false);
    $("answer").textContent = FIRST_ANSWER;
    $("reply").classList.remove("emergency");
    $("emergency").hidden = true;
    $("handoff-state").hidden = true;
    $("choices").innerHTML = "";
    hidePayment();
    setBusy(false);
    setStatus("");
    $("typed").value = "";
    $("idle").hidden = true;
    $("scroll").scrollTop = 0;
    lastActivity = Date.now();
  }
  $("restart").addEventListener("click", startOver);
  // issue 13 (device): kiosk_follow.js shows the hall device loop's turns through these (keep them).
  window.xiaodianKiosk = { render: render, setStatus: setStatus, setBusy: setBusy, startOver: startOver,
    adopt: function (id) { sessionId = id; } };
  $("still-here").addEventListener("click", active);
  ["pointerdown", "keydown", "input"].forEach(function (name) { document.addEventListener(name, active, true); });
  $("voice").addEventListener("ended", active);

  function somethingToClear() {
    return sessionId !== null || !$("payment").hidden || $("heard").textContent !== FIRST_HEARD;
  }

  setInterval(function () {
    // Nothing is cleared while someone is talking, 小电 is thinking or speaking, or staff are on the way.
    var speaking = !$("voice").paused;
    var staffComing = handoff !== null && handoff.status !== "closed";
    if (!somethingToClear() || recording || !$("busy").hidden || speaking || staffComing) {
      if (speaking || recording) { lastActivity = Date.now(); }
      $("idle").hidden = true;
      return;
    }
    var quiet = (Date.now() - lastActivity) / 1000;
    if (quiet < IDLE_S) { $("idle").hidden = true; return; }
    var left = Math.ceil(IDLE_S + IDLE_WARNING_S - quiet);
    if (left <= 0) { startOver(); return; }
    $("idle-count").textContent = String(left);
    if ($("idle").hidden) { $("idle").hidden = false; $("idle").scrollIntoView({ block: "nearest" }); }
  }, 250);
})();

// Kiosk page: typed or spoken questions to /api/converse, answers shown large and spoken.
// Plain JavaScript, no build step, nothing fetched from outside.
(function () {
  "use strict";
  var sessionId = null;
  var $ = function (id) { return document.getElementById(id); };
  var ORDINALS = ["一", "二", "三", "四", "五"];

  function setStatus(text) { $("status").textContent = text || ""; }

  function render(reply, heard) {
    sessionId = reply.session_id || sessionId;
    if (heard !== undefined) { $("heard").textContent = heard || "（没有听清）"; }
    $("answer").textContent = reply.text;
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
    var payment = $("payment");
    if (reply.pay_url) {
      payment.hidden = false;
      $("pay-button").href = reply.pay_url;
      $("qr").innerHTML = reply.pay_qr_svg || "";
      var share = $("share");
      share.hidden = !reply.share_text;
      share.textContent = reply.share_text || "";
    } else {
      payment.hidden = true;
    }
    if (reply.speech_url) {
      var voice = $("voice");
      voice.src = reply.speech_url;
      voice.play().catch(function () { /* autoplay may be blocked until the first touch */ });
    }
    if (reply.end) { sessionId = null; }
  }

  function failed(response) {
    return response.json().then(function (body) {
      throw new Error((body && body.detail) || "出了点问题，请再试一次。");
    }, function () { throw new Error("出了点问题，请再试一次。"); });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) { setStatus("请先输入您想问的话。"); return; }
    setStatus("小电正在想……");
    $("heard").textContent = text;
    fetch("/api/converse", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: sessionId, text: text, channel: "kiosk" })
    }).then(function (response) { return response.ok ? response.json() : failed(response); })
      .then(function (reply) { setStatus(""); render(reply); })
      .catch(function (error) { setStatus(error.message); });
  }

  // --- microphone: record, downsample to 16 kHz, send as WAV ---
  var recording = null;

  function encodeWav(samples, rate) {
    var buffer = new ArrayBuffer(44 + samples.length * 2);
    var view = new DataView(buffer);
    function text(offset, value) { for (var i = 0; i < value.length; i++) { view.setUint8(offset + i, value.charCodeAt(i)); } }
    text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    text(36, "data"); view.setUint32(40, samples.length * 2, true);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([view], { type: "audio/wav" });
  }

  function downsample(chunks, fromRate, toRate) {
    var length = chunks.reduce(function (sum, c) { return sum + c.length; }, 0);
    var all = new Float32Array(length);
    var offset = 0;
    chunks.forEach(function (c) { all.set(c, offset); offset += c.length; });
    var ratio = fromRate / toRate;
    var out = new Float32Array(Math.floor(length / ratio));
    for (var i = 0; i < out.length; i++) {
      var start = Math.floor(i * ratio), end = Math.min(length, Math.floor((i + 1) * ratio));
      var sum = 0;
      for (var j = start; j < end; j++) { sum += all[j]; }
      out[i] = sum / Math.max(1, end - start);
    }
    return out;
  }

  function startRecording() {
    if (recording) { return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("这台机器用不了麦克风。请在下面打字提问，或者点“转人工”。");
      return;
    }
    recording = { chunks: [], pending: true };
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      if (!recording) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
      var context = new (window.AudioContext || window.webkitAudioContext)();
      var source = context.createMediaStreamSource(stream);
      var processor = context.createScriptProcessor(4096, 1, 1);
      processor.onaudioprocess = function (event) {
        if (recording) { recording.chunks.push(new Float32Array(event.inputBuffer.getChannelData(0))); }
      };
      source.connect(processor);
      processor.connect(context.destination);
      recording.stream = stream; recording.context = context; recording.processor = processor;
      recording.pending = false;
      $("talk").classList.add("listening");
      $("talk").textContent = "正在听，说完松开";
      setStatus("");
    }).catch(function () {
      recording = null;
      setStatus("没有打开麦克风（可能没有授权）。请在下面打字提问，或者点“转人工”。");
    });
  }

  function stopRecording() {
    var current = recording;
    recording = null;
    $("talk").classList.remove("listening");
    $("talk").textContent = "按住说话";
    if (!current || current.pending) { return; }
    current.processor.disconnect();
    current.stream.getTracks().forEach(function (t) { t.stop(); });
    var rate = current.context.sampleRate;
    current.context.close();
    var samples = downsample(current.chunks, rate, 16000);
    if (samples.length < 16000 * 0.3) { setStatus("说话时间太短了，请按住按钮再说一遍。"); return; }
    var form = new FormData();
    form.append("audio", encodeWav(samples, 16000), "question.wav");
    if (sessionId) { form.append("session_id", sessionId); }
    form.append("channel", "kiosk");
    setStatus("小电正在听……");
    fetch("/api/converse/audio", { method: "POST", body: form })
      .then(function (response) { return response.ok ? response.json() : failed(response); })
      .then(function (result) { setStatus(""); render(result.reply, result.transcript); })
      .catch(function (error) { setStatus(error.message); });
  }

  // Hold to talk; a short tap toggles instead (tap to start, tap to stop).
  var pressedAt = 0, tapMode = false;
  var talk = $("talk");
  talk.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    pressedAt = Date.now();
    if (tapMode) { tapMode = false; stopRecording(); pressedAt = 0; return; }
    startRecording();
  });
  talk.addEventListener("pointerup", function () {
    if (!pressedAt) { return; }
    if (Date.now() - pressedAt < 400) { tapMode = true; return; }  // a tap: keep listening until the next tap
    stopRecording();
  });
  talk.addEventListener("pointerleave", function () { if (pressedAt && !tapMode && recording) { stopRecording(); } });

  document.querySelectorAll("[data-say]").forEach(function (button) {
    button.addEventListener("click", function () { send(button.getAttribute("data-say")); });
  });
  $("type-form").addEventListener("submit", function (event) {
    event.preventDefault();
    send($("typed").value);
    $("typed").value = "";
  });
})();

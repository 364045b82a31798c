/* 小电 staff console: the live handoff queue (Server-Sent Events), claim, note, close.
   A ticket that arrives while the page is open beeps (Web Audio, no sound file) and puts
   "(1) 新工单" in the tab's title until the page is touched. */
"use strict";

(function () {
  const container = document.getElementById("queue");
  const statusLine = document.getElementById("live-status");
  const countLine = document.getElementById("queue-count");
  const me = container.dataset.me;
  const isAdmin = container.dataset.role === "admin";

  const tickets = new Map(); // ticket id → ticket, for the queue's first page (what the server sends)
  const cards = new Map(); // ticket id → card element
  const drafts = new Map(); // ticket id → note being typed (kept across updates)
  const notices = new Map(); // ticket id → [text, kind] shown under the ticket
  const opened = new Set(); // ticket ids whose transcript staff opened (kept across updates; closed by default)
  const known = new Set(); // every ticket id this page has shown: only others are new arrivals
  const fresh = new Set(); // arrivals not yet acknowledged (marked 新 on their card)
  let clockOffset = 0; // server time − this browser's time, in ms
  let loaded = false; // the first queue is what was there already: no alert for it

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
  }

  function waitText(ticket) {
    const start = ticket.status === "claimed" && ticket.claimed_at ? ticket.claimed_at : ticket.created_at;
    const seconds = (Date.now() + clockOffset - Date.parse(start)) / 1000;
    return ticket.status === "claimed" ? `已处理 ${xd.duration(seconds)}` : `已等 ${xd.duration(seconds)}`;
  }

  function turnItem(turn) {
    const meta = [];
    if (turn.intent) meta.push(`意图：${turn.intent_title || turn.intent}`);
    if (turn.confidence !== null && turn.confidence !== undefined) meta.push(`把握 ${turn.confidence.toFixed(2)}`);
    return xd.el("li", {},
      xd.el("span", { className: "speaker" }, `${turn.speaker || "记录"}：`),
      turn.text,
      meta.length ? xd.el("span", { className: "meta" }, `（${meta.join("，")}）`) : null);
  }

  function fact(label, value) {
    return xd.el("div", {}, xd.el("dt", {}, label), xd.el("dd", {}, value));
  }

  function button(text, className, onClick) {
    const b = xd.el("button", { type: "button", className }, text);
    b.addEventListener("click", () => onClick(b));
    return b;
  }

  /** Where the call came from: the caller's masked number with a phone badge, or the hall and kiosk. */
  function originBadge(ticket) {
    const phone = ticket.channel === "phone";
    const text = ticket.origin || ticket.channel_label;
    const badge = xd.el("span", { className: `origin origin-${phone ? "phone" : "place"}` },
      xd.el("span", { className: "origin-icon", ariaHidden: "true" }, phone ? "☎" : "⌂"), ` ${text}`);
    if (!phone && ticket.origin) badge.title = ticket.channel_label;
    return badge;
  }

  function buildCard(ticket) {
    const mine = ticket.claimed_by === me;
    const card = xd.el("article", {
      className: `ticket${ticket.priority === 0 ? " ticket-urgent" : ""}${mine ? " ticket-mine" : ""}` +
        `${fresh.has(ticket.id) ? " ticket-new" : ""}`,
    });
    card.dataset.id = ticket.id;
    card.dataset.version = ticket.version;
    const badgeClass = ticket.priority === 0 ? "badge badge-urgent" : ticket.priority === 1 ? "badge badge-high" : "badge";
    const wait = xd.el("span", { className: "wait" }, waitText(ticket));
    wait.dataset.ticket = ticket.id;
    card.append(xd.el("header", { className: "ticket-head" },
      xd.el("span", { className: badgeClass }, `${ticket.priority === 0 ? "⚠ " : ""}${ticket.priority_label}`),
      fresh.has(ticket.id) ? xd.el("span", { className: "badge badge-new" }, "新") : null,
      xd.el("h2", {}, `${ticket.id} 号：${ticket.reason_label}`),
      xd.el("span", { className: "badge" }, ticket.status === "claimed" ? `${ticket.claimed_by} 处理中` : ticket.status_label),
      wait));
    card.append(xd.el("p", { className: "ticket-summary" }, ticket.summary || "（小电没有留下概要，请看下面的对话）"));
    card.append(xd.el("dl", { className: "ticket-facts" },
      fact("来源", originBadge(ticket)),
      fact("户号", ticket.account_number || "不知道"),
      fact("转来时间", new Date(ticket.created_at).toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" }))));

    const transcript = xd.el("ol", { className: "transcript" }, ...ticket.transcript.map(turnItem));
    const details = xd.el("details", {},
      xd.el("summary", {}, `对话记录（${ticket.transcript.length} 条）`),
      ticket.transcript.length ? transcript : xd.el("p", { className: "muted" }, "没有对话记录。"));
    // Closed by default, so a card fits on one screen; what staff open stays open across updates.
    details.open = opened.has(ticket.id);
    details.addEventListener("toggle", () => {
      if (details.open) {
        opened.add(ticket.id);
        transcript.scrollTop = transcript.scrollHeight;  // the latest turns, which led to the handoff
      } else {
        opened.delete(ticket.id);
      }
    });
    card.append(details);
    if (ticket.note) card.append(xd.el("h3", {}, "备注"), xd.el("p", { className: "ticket-note" }, ticket.note));

    const notice = xd.el("p", { className: "message", role: "alert" });
    notice.hidden = true;
    const saved = notices.get(ticket.id);
    if (saved) xd.show(notice, saved[0], saved[1]);
    const actions = xd.el("div", { className: "ticket-actions" });
    if (ticket.status === "waiting") {
      actions.append(button("接手这位客户", "button-primary button-large", (b) => act(b, ticket, "claim")));
    } else {
      const id = `note-${ticket.id}`;
      const area = xd.el("textarea", { id, rows: 3, maxLength: 2000 });
      area.dataset.draftFor = ticket.id;
      area.value = drafts.get(ticket.id) || "";
      area.addEventListener("input", () => drafts.set(ticket.id, area.value));
      actions.append(xd.el("div", { className: "field" },
        xd.el("label", { htmlFor: id }, mine || isAdmin ? "备注 / 处理结果" : "备注"), area));
      actions.append(button("添加备注", "", (b) => act(b, ticket, "note", area)));
      if (mine || isAdmin) {
        actions.append(button("结束工单", "button-danger", (b) => act(b, ticket, "close", area)));
      }
    }
    card.append(actions, notice);
    return card;
  }

  /** The queue's order: emergencies first, then the longest wait (as the server orders it). */
  function queueOrder(a, b) {
    return a.priority - b.priority || Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id;
  }

  /** A "queue" event (or the page's initial queue): the first page, whole. */
  function replaceQueue(snapshot) {
    tickets.clear();
    for (const ticket of snapshot.tickets) tickets.set(ticket.id, ticket);
    noticeArrivals(snapshot.tickets);
    render(snapshot);
  }

  /** A "changes" event: only the tickets added or changed, and the ids that left the first page. */
  function applyChanges(changes) {
    for (const id of changes.removed) tickets.delete(id);
    for (const ticket of changes.tickets) tickets.set(ticket.id, ticket);
    noticeArrivals(changes.tickets);
    render(changes);
  }

  /* --- Arrival alert: a beep and the tab's title ------------------------------------ */

  const pageTitle = document.title;
  const soundButton = document.getElementById("sound-on");
  let audio = null;

  /** Browsers start sound only after a touch on the page: the first one switches it on. */
  function enableSound() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      audio = new Context();
      audio.addEventListener("statechange", showSoundState);
    }
    if (audio && audio.state === "suspended") audio.resume();
    return audio;
  }

  function showSoundState() {
    if (!soundButton) return;
    soundButton.hidden = Boolean(audio && audio.state === "running");
  }

  /** Two short tones (three, higher, for an emergency); quiet start and end, so no click. */
  function beep(urgent) {
    if (!audio || audio.state !== "running") return;
    const start = audio.currentTime + 0.02;
    for (let i = 0; i < (urgent ? 3 : 2); i += 1) {
      const at = start + i * 0.3;
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = urgent ? 988 : 659;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.4, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
      tone.connect(gain).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.25);
    }
  }

  function showTitle() {
    document.title = fresh.size ? `(${fresh.size}) 新工单 · ${pageTitle}` : pageTitle;
  }

  function noticeArrivals(list) {
    const arrived = list.filter((ticket) => !known.has(ticket.id));
    for (const ticket of arrived) known.add(ticket.id);
    if (!loaded) { loaded = true; return; }
    const waiting = arrived.filter((ticket) => ticket.status === "waiting");
    if (!waiting.length) return;
    for (const ticket of waiting) fresh.add(ticket.id);
    showTitle();
    beep(waiting.some((ticket) => ticket.priority === 0));
  }

  /** Seen: any touch or key on the page clears the count in the title and the 新 marks (and allows sound). */
  function acknowledge(event) {
    if (!(soundButton && soundButton.contains(event.target))) enableSound();  // the button does it, with a sample
    if (!fresh.size) return;
    const seen = [...fresh];
    fresh.clear();
    showTitle();
    for (const id of seen) {
      const card = cards.get(id);
      if (!card) continue;
      card.classList.remove("ticket-new");
      const mark = card.querySelector(".badge-new");
      if (mark) mark.remove();
    }
  }

  document.addEventListener("pointerdown", acknowledge);
  document.addEventListener("keydown", acknowledge);
  if (soundButton) {
    soundButton.addEventListener("click", () => {
      const context = enableSound();
      if (context) context.resume().then(() => { showSoundState(); beep(false); }, showSoundState);
    });
  }
  enableSound();  // where the browser already allows sound, no button is needed
  showSoundState();

  /** Show the tickets held: rebuild only changed cards, keep typing and focus intact. */
  function render(counts) {
    clockOffset = Date.parse(counts.server_time) - Date.now();
    const shown = [...tickets.values()].sort(queueOrder);
    const active = document.activeElement;
    const activeTicket = active && active.dataset ? active.dataset.draftFor : undefined;
    const selection = activeTicket ? [active.selectionStart, active.selectionEnd] : null;
    const seen = new Set();
    shown.forEach((ticket, index) => {
      seen.add(ticket.id);
      let card = cards.get(ticket.id);
      if (!card || card.dataset.version !== String(ticket.version)) {
        const fresh = buildCard(ticket);
        if (card) card.replaceWith(fresh);
        card = fresh;
        cards.set(ticket.id, card);
      }
      card.ticket = ticket;
      if (container.children[index] !== card) container.insertBefore(card, container.children[index] || null);
    });
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.remove();
        cards.delete(id);
        drafts.delete(id);
        notices.delete(id);
      }
    }
    if (activeTicket && document.activeElement !== active) {
      const area = container.querySelector(`textarea[data-draft-for="${activeTicket}"]`);
      if (area) {
        area.focus();
        area.setSelectionRange(selection[0], selection[1]);
      }
    }
    const more = counts.total > shown.length ? `这里先显示最前面的 ${shown.length} 位。` : "";
    countLine.textContent = `等待 ${counts.waiting} 位${counts.urgent ? `（其中紧急 ${counts.urgent} 位）` : ""}，` +
      `处理中 ${counts.total - counts.waiting} 位。${more}`;
    if (!shown.length) {
      container.replaceChildren(xd.el("p", { className: "empty-state" }, "现在没有需要转人工的客户。有新的会自动出现在这里。"));
    } else {
      const empty = container.querySelector(".empty-state");
      if (empty) empty.remove();
    }
  }

  async function act(b, ticket, action, area) {
    const body = area ? { text: area.value } : undefined;
    b.disabled = true;
    const result = await xd.api("POST", `/api/staff/tickets/${ticket.id}/${action}`, body);
    b.disabled = false;
    if (result.ok) {
      drafts.delete(ticket.id);
      const done = { claim: "已接手，请联系客户。", note: "备注已添加。", close: "工单已结束。" }[action];
      notices.set(ticket.id, [done, "ok"]);
      const card = cards.get(ticket.id);
      if (result.data.status === "closed") {
        if (card) card.remove();
        cards.delete(ticket.id);
        tickets.delete(ticket.id);
      } else if (card) {
        tickets.set(ticket.id, result.data);
        const fresh = buildCard(result.data);
        card.replaceWith(fresh);
        cards.set(ticket.id, fresh);
      }
      return;
    }
    const lines = xd.errorLines(result.data);
    notices.set(ticket.id, [lines, "error"]);
    const notice = cards.get(ticket.id) && cards.get(ticket.id).querySelector(".message");
    if (notice) xd.showFailure(notice, result);
  }

  function refreshWaitTimes() {
    for (const span of container.querySelectorAll(".wait")) {
      const card = cards.get(Number(span.dataset.ticket));
      if (card && card.ticket) span.textContent = waitText(card.ticket);
    }
  }

  function connect() {
    const source = new EventSource("/api/staff/events");
    source.addEventListener("open", () => setStatus("live", "实时更新中：新的转人工会自动出现。"));
    source.addEventListener("queue", (event) => replaceQueue(JSON.parse(event.data)));
    source.addEventListener("changes", (event) => applyChanges(JSON.parse(event.data)));
    source.addEventListener("logout", () => {
      source.close();
      setStatus("down", "登录已过期，请重新登录。");
      const link = xd.el("a", { href: "/login?next=/staff" }, " 去登录");
      statusLine.append(link);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus("down", "和服务器的连接断了，请刷新页面。");
      } else {
        setStatus("down", "和服务器的连接断了，正在自动重新连接…");
      }
    });
  }

  replaceQueue(JSON.parse(document.getElementById("initial-queue").textContent));
  setInterval(refreshWaitTimes, 5000);
  connect();
})();

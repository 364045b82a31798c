/* 小电 staff console: the live handoff queue (Server-Sent Events), claim, note, close. */
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
  let clockOffset = 0; // server time − this browser's time, in ms

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
    if (turn.intent) meta.push(`意图 ${turn.intent}`);
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

  function buildCard(ticket) {
    const mine = ticket.claimed_by === me;
    const card = xd.el("article", {
      className: `ticket${ticket.priority === 0 ? " ticket-urgent" : ""}${mine ? " ticket-mine" : ""}`,
    });
    card.dataset.id = ticket.id;
    card.dataset.version = ticket.version;
    const badgeClass = ticket.priority === 0 ? "badge badge-urgent" : ticket.priority === 1 ? "badge badge-high" : "badge";
    const wait = xd.el("span", { className: "wait" }, waitText(ticket));
    wait.dataset.ticket = ticket.id;
    card.append(xd.el("header", { className: "ticket-head" },
      xd.el("span", { className: badgeClass }, `${ticket.priority === 0 ? "⚠ " : ""}${ticket.priority_label}`),
      xd.el("h2", {}, `${ticket.id} 号：${ticket.reason_label}`),
      xd.el("span", { className: "badge" }, ticket.status === "claimed" ? `${ticket.claimed_by} 处理中` : ticket.status_label),
      wait));
    card.append(xd.el("p", { className: "ticket-summary" }, ticket.summary || "（小电没有留下概要，请看下面的对话）"));
    card.append(xd.el("dl", { className: "ticket-facts" },
      fact("户号", ticket.account_number || "不知道"),
      fact("来源", ticket.channel_label),
      fact("转来时间", new Date(ticket.created_at).toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" }))));

    const transcript = xd.el("ol", { className: "transcript" }, ...ticket.transcript.map(turnItem));
    const details = xd.el("details", {},
      xd.el("summary", {}, `对话记录（${ticket.transcript.length} 条）`),
      ticket.transcript.length ? transcript : xd.el("p", { className: "muted" }, "没有对话记录。"));
    details.open = ticket.status === "waiting" || mine;
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
    render(snapshot);
  }

  /** A "changes" event: only the tickets added or changed, and the ids that left the first page. */
  function applyChanges(changes) {
    for (const id of changes.removed) tickets.delete(id);
    for (const ticket of changes.tickets) tickets.set(ticket.id, ticket);
    render(changes);
  }

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

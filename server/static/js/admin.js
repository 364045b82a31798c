/* 小电 admin pages: save an intent, enable/disable, try a phrase, import YAML. */
"use strict";

(function () {
  const LINE_FIELDS = ["examples", "keywords"];
  const OPTIONAL_FIELDS = ["answer_spoken", "answer_account_display", "answer_account_spoken"];

  /* --- The intent form ------------------------------------------------------------ */

  function formBody(form) {
    const data = new FormData(form);
    const body = {};
    for (const name of ["id", "title", "description", "answer_display", "action", ...OPTIONAL_FIELDS]) {
      if (data.has(name)) body[name] = data.get(name);
    }
    for (const name of OPTIONAL_FIELDS) {
      if (body[name] !== undefined && body[name].trim() === "") body[name] = null;
    }
    for (const name of LINE_FIELDS) {
      body[name] = String(data.get(name) || "").split("\n").map((line) => line.trim()).filter(Boolean);
    }
    body.needs_account = data.get("needs_account") === "on";
    if (form.dataset.mode === "edit") body.version = Number(data.get("version"));
    return body;
  }

  function clearFieldErrors(form) {
    for (const p of form.querySelectorAll("[data-error-for]")) p.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Put each problem beside its field; what has no field goes in the box at the top. */
  function showFieldErrors(form, box, data) {
    const general = [];
    const details = Array.isArray(data.detail) ? data.detail : null;
    if (!details) {
      xd.show(box, xd.errorLines(data), "error", Boolean(data.login));
      return;
    }
    let first = null;
    for (const item of details) {
      const field = Array.isArray(item.loc) ? String(item.loc[item.loc.length - 1]) : "";
      const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (slot) {
        slot.textContent = slot.textContent ? `${slot.textContent} ${item.msg}` : item.msg;
        const input = form.elements[field];
        if (input && input.setAttribute) {
          input.setAttribute("aria-invalid", "true");
          first = first || input;
        }
      } else {
        general.push(item.msg);
      }
    }
    xd.show(box, general.length ? general : [`有 ${details.length} 处需要修改，请看下面标红的地方。`], "error");
    if (first) first.focus();
  }

  const form = document.getElementById("intent-form");
  if (form) {
    const box = document.getElementById("form-message");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFieldErrors(form);
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      const body = formBody(form);
      const editing = form.dataset.mode === "edit";
      const result = editing
        ? await xd.api("PUT", `/api/admin/intents/${encodeURIComponent(form.dataset.id)}`, body)
        : await xd.api("POST", "/api/admin/intents", body);
      button.disabled = false;
      if (result.ok) {
        if (!editing) {
          location.href = `/admin/intents/${encodeURIComponent(result.data.id)}?saved=1`;
          return;
        }
        form.elements.version.value = result.data.version;
        const label = document.getElementById("version-label");
        if (label) label.textContent = result.data.version;
        for (const toggle of document.querySelectorAll(".js-toggle")) toggle.dataset.version = result.data.version;
        xd.show(box, "已保存。从客户的下一句话起，小电就用新的内容回答。", "ok");
      } else if (result.status === 409) {
        xd.show(box, xd.errorLines(result.data).concat(["（您填的内容还在，可以先复制下来，刷新页面后再改。）"]), "error");
      } else {
        showFieldErrors(form, box, result.data);
      }
      box.scrollIntoView({ block: "nearest" });
    });
    if (new URLSearchParams(location.search).has("saved")) {
      xd.show(box, "已创建并生效。", "ok");
    }
  }

  /* --- Enable / disable ------------------------------------------------------------ */

  for (const toggle of document.querySelectorAll(".js-toggle")) {
    toggle.addEventListener("click", async () => {
      const enabled = toggle.dataset.enabled === "true";
      const box = document.getElementById("form-message") || document.getElementById("list-message");
      toggle.disabled = true;
      const result = await xd.api("POST",
        `/api/admin/intents/${encodeURIComponent(toggle.dataset.id)}/${enabled ? "disable" : "enable"}`,
        { version: Number(toggle.dataset.version) });
      toggle.disabled = false;
      if (result.ok) {
        location.reload();
      } else {
        xd.showFailure(box, result);
        box.scrollIntoView({ block: "nearest" });
      }
    });
  }

  /* --- Try a phrase ---------------------------------------------------------------- */

  const DECISIONS = { accept: "直接回答", confirm: "先问客户“您是想问…吗？”", none: "没听懂" };
  const tryForm = document.getElementById("try-form");
  if (tryForm) {
    const out = document.getElementById("try-result");
    tryForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = tryForm.elements.text.value.trim();
      if (!text) return;
      const result = await xd.api("POST", "/api/admin/try", { text });
      out.replaceChildren();
      if (!result.ok) {
        const box = xd.el("div", { className: "message", role: "alert" });
        xd.showFailure(box, result);
        out.append(box);
        return;
      }
      const r = result.data;
      const list = xd.el("ol", { className: "candidates" });
      for (const c of r.candidates) {
        const bar = xd.el("span", {});
        bar.style.width = `${Math.round(c.score * 100)}%`;
        list.append(xd.el("li", {},
          xd.el("span", { className: "score-bar", title: "得分" }, bar),
          xd.el("strong", {}, c.score.toFixed(2)),
          xd.el("a", { href: `/admin/intents/${encodeURIComponent(c.intent)}` }, `${c.title}（${c.intent}）`)));
      }
      // What the customer gets, first and large: the kiosk's own reply to this as an opening sentence.
      const heard = xd.el("div", { className: "try-said" },
        xd.el("h3", {}, "客户会听到"),
        xd.el("p", { id: "try-spoken", className: "try-spoken" }, r.spoken || r.answer));
      if (r.answer && r.answer !== r.spoken) {
        heard.append(xd.el("h3", {}, "屏幕上显示"), xd.el("p", { id: "try-shown" }, r.answer));
      }
      if (r.choices.length) {
        heard.append(xd.el("p", {}, "可以点的选项：",
          ...r.choices.map((title, i) => xd.el("span", { className: "badge" }, `${i + 1}、${title}`))));
      }
      const title = (r.candidates.find((c) => c.intent === r.intent) || {}).title;
      out.append(
        heard,
        xd.el("p", {}, xd.el("strong", {}, `归到：${title ? `${title}（${r.intent}）` : r.intent}`),
          `，把握 ${r.confidence.toFixed(2)}，${DECISIONS[r.decision] || r.decision}`),
        xd.el("p", {}, "整理后：", xd.el("code", {}, r.normalized || "（空）")),
        r.candidates.length ? xd.el("h3", {}, "候选（从高到低）") : xd.el("p", {}, "没有候选。"),
        list);
    });
  }

  /* --- Import ---------------------------------------------------------------------- */

  const importForm = document.getElementById("import-form");
  if (importForm) {
    const box = document.getElementById("import-result");
    importForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = importForm.querySelector('button[type="submit"]');
      button.disabled = true;
      const result = await xd.api("POST", "/api/admin/import/intents", new FormData(importForm));
      button.disabled = false;
      if (result.ok) {
        const r = result.data;
        xd.show(box, `导入完成：新建 ${r.created.length} 个，修改 ${r.updated.length} 个，没变 ${r.unchanged} 个。` +
          "已经生效。刷新页面可看到最新列表。", "ok");
      } else {
        xd.showFailure(box, result);
      }
    });
  }
})();

/* 小电: helpers every page shares. Plain JavaScript, no build step, nothing from outside. */
"use strict";

const xd = {
  /** The session's CSRF token, from <meta name="csrf-token"> in the layout. */
  csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },

  /**
   * Call the JSON API. Resolves to {ok, status, data}; never throws, so every
   * caller shows a sentence instead of failing silently.
   */
  async api(method, url, body) {
    const headers = { "Accept": "application/json", "X-CSRF-Token": xd.csrfToken() };
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
    } catch (error) {
      return { ok: false, status: 0, data: { detail: "连不上服务器，请检查网络后再试。" } };
    }
    let data;
    try {
      data = await response.json();
    } catch (error) {
      data = { detail: `服务器的回应看不懂（${response.status}），请稍后再试。` };
    }
    if (response.status === 401) {
      data = { detail: "登录已过期，请重新登录（登录后再做一次刚才的操作）。", login: true };
    }
    return { ok: response.ok, status: response.status, data };
  },

  /** The error lines of an API answer: detail is a sentence or a list of {loc, msg}. */
  errorLines(data) {
    if (!data || data.detail === undefined) return ["出了点问题，请稍后再试。"];
    if (typeof data.detail === "string") return [data.detail];
    if (Array.isArray(data.detail)) return data.detail.map((item) => item.msg || String(item));
    return [String(data.detail)];
  },

  /** Show a message in a box (role="alert" in the page): kind is "ok", "error" or "info". */
  show(box, lines, kind, withLoginLink) {
    box.replaceChildren();
    box.className = `message message-${kind}`;
    const list = Array.isArray(lines) ? lines : [lines];
    if (list.length === 1) {
      box.append(list[0]);
    } else {
      const ul = document.createElement("ul");
      for (const line of list) {
        const li = document.createElement("li");
        li.textContent = line;
        ul.append(li);
      }
      box.append(ul);
    }
    if (withLoginLink) {
      const link = document.createElement("a");
      link.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
      link.textContent = " 去登录";
      box.append(link);
    }
    box.hidden = false;
  },

  /** Show an API failure; a 401 gets a link to the login page. */
  showFailure(box, result) {
    xd.show(box, xd.errorLines(result.data), "error", Boolean(result.data && result.data.login));
  },

  /** "5 分 20 秒" from seconds, for wait times. */
  duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s} 秒`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} 分 ${s % 60} 秒`;
    return `${Math.floor(m / 60)} 小时 ${m % 60} 分`;
  },

  /** Build an element: el("p", {className: "x"}, "text", child, ...). */
  el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  },
};

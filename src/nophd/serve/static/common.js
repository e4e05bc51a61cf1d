// Shared helpers for the nophd dashboard pages: fetching the API, building
// DOM nodes safely (text is always set as text, never parsed as HTML, since
// run folder names and file contents come from disk), and formatting numbers.
"use strict";

const nophd = (() => {
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  // GETs (or sends) JSON; an error response's {"error": "..."} becomes an ApiError.
  async function api(url, options = {}) {
    let response;
    try {
      response = await fetch(url, { cache: "no-store", ...options });
    } catch (error) {
      throw new ApiError("the nophd server does not answer (is `nophd serve` still running?)", 0);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError((body && body.error) || `${response.status} ${response.statusText}`, response.status);
    }
    return body;
  }

  // el("a", {href: "/x", class: "y"}, "text", otherNode): a DOM element.
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") {
        // Custom properties ("--label-width") only take setProperty.
        for (const [property, setting] of Object.entries(value)) {
          if (property.startsWith("--")) node.style.setProperty(property, setting);
          else node.style[property] = setting;
        }
      }
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  function percent(value, decimals = 2) {
    return isNumber(value) ? `${(value * 100).toFixed(decimals)}%` : "—";
  }

  function integer(value) {
    return isNumber(value) ? Math.round(value).toLocaleString("en-US") : "—";
  }

  function fixed(value, decimals = 4) {
    return isNumber(value) ? value.toFixed(decimals) : "—";
  }

  function rate(value) {
    return isNumber(value) ? Number(value.toPrecision(3)).toString() : "—";
  }

  // As the run reports write it: "4.2 s", "42 s", "4 min 12 s", "1 h 3 min".
  function duration(seconds) {
    if (!isNumber(seconds) || seconds < 0) return "—";
    if (seconds < 10) return `${seconds.toFixed(1)} s`;
    const total = Math.round(seconds);
    if (total < 60) return `${total} s`;
    const minutes = Math.floor(total / 60);
    if (minutes < 60) return `${minutes} min ${total % 60} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  // "2026-11-22T19:58:54+00:00" -> "2026-11-22 19:58" in the browser's time zone.
  function when(iso) {
    if (!iso) return "—";
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return String(iso);
    const pad = (number) => String(number).padStart(2, "0");
    return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
  }

  function clock(moment = new Date()) {
    return moment.toLocaleTimeString("en-GB");
  }

  // Run ids are paths ("ladder/conv-bn"): each part is escaped, the "/" kept.
  function idPath(id) {
    return id.split("/").map(encodeURIComponent).join("/");
  }

  function runPage(id) {
    return `/runs/${idPath(id)}`;
  }

  function runApi(id, suffix = "") {
    return `/api/runs/${idPath(id)}${suffix}`;
  }

  function comparePage(ids) {
    return `/compare?runs=${ids.map(encodeURIComponent).join(",")}`;
  }

  function statusBadge(status) {
    return el("span", { class: `status ${status || "unknown"}`, text: status || "unknown" });
  }

  function problemsBox(problems) {
    if (!problems || !problems.length) return null;
    return el("div", { class: "problems", role: "alert" },
      el("strong", { text: "This run folder has problems:" }),
      el("ul", {}, problems.map((problem) => el("li", { text: problem }))));
  }

  // A shell command with a button that copies it.
  function commandLine(command) {
    const button = el("button", { type: "button", title: "Copy to the clipboard", text: "copy" });
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(command);
        button.textContent = "copied";
      } catch (error) {
        button.textContent = "select and copy";
      }
      setTimeout(() => { button.textContent = "copy"; }, 1500);
    });
    return el("div", { class: "command" }, el("code", { text: command }), button);
  }

  // Calls `task` now and then every `seconds()` seconds (re-read each time), while the tab is visible.
  function every(seconds, task) {
    let timer = null;
    async function tick() {
      clearTimeout(timer);
      if (!document.hidden) {
        try {
          await task();
        } catch (error) {
          console.error(error);
        }
      }
      timer = setTimeout(tick, seconds() * 1000);
    }
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
    tick();
    return { now: tick };
  }

  // 75 -> "1:15", 4000 -> "1:06:40" (as the terminal's progress line writes it).
  function clockDuration(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = String(total % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  function replace(container, ...children) {
    container.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  }

  return {
    ApiError, api, el, isNumber, percent, integer, fixed, rate, duration, when, clock,
    idPath, runPage, runApi, comparePage, statusBadge, problemsBox, commandLine, every, replace, clockDuration,
  };
})();

// The runs page: every run in RUNS_DIR in a sortable table, refreshed every
// few seconds (and redrawn only when something changed), the ladder
// comparisons, and the TensorBoard command.
"use strict";

(() => {
  const { el, percent, integer, duration, when } = nophd;
  const REFRESH_SECONDS = 4;
  const selected = new Set();
  let lastText = "";
  let lastData = null;

  // Column: [key, heading, value(run) for sorting, cell(run), numeric?]
  const COLUMNS = [
    ["id", "run", (run) => run.id, runCell, false],
    ["model", "model", (run) => run.model || "", (run) => run.model || "—", false],
    ["dataset", "dataset", (run) => run.dataset || "", (run) => run.dataset || "—", false],
    ["status", "status", (run) => run.status, (run) => nophd.statusBadge(run.status), false],
    ["epochs", "epochs", (run) => run.epochs_done ?? -1, epochsCell, true],
    ["best_val_accuracy", "best val. accuracy", (run) => run.best_val_accuracy ?? -1, (run) => percent(run.best_val_accuracy), true],
    ["test_accuracy", "test accuracy", (run) => run.test_accuracy ?? -1, (run) => percent(run.test_accuracy), true],
    ["wall_seconds", "wall time", (run) => run.wall_seconds ?? -1, (run) => duration(run.wall_seconds), true],
    ["started_at", "started", (run) => run.started_at || "", (run) => when(run.started_at), true],
  ];

  let sort = loadSort();

  function loadSort() {
    try {
      const saved = JSON.parse(localStorage.getItem("nophd-runs-sort") || "null");
      if (saved && COLUMNS.some((column) => column[0] === saved.key)) return saved;
    } catch (error) { /* A private window without storage: the default order. */ }
    return { key: "started_at", descending: true };
  }

  function saveSort() {
    try { localStorage.setItem("nophd-runs-sort", JSON.stringify(sort)); } catch (error) { /* ignored */ }
  }

  function runCell(run) {
    const link = el("a", { href: nophd.runPage(run.id), text: run.name });
    const parts = [link];
    if (run.group) parts.unshift(el("span", { class: "group", text: `${run.group}/` }));
    if (run.problems && run.problems.length) {
      parts.push(el("span", { class: "warning-mark", title: run.problems.join("\n"), text: "⚠", "aria-label": "problems" }));
    }
    return parts;
  }

  function epochsCell(run) {
    const done = run.epochs_done ?? 0;
    const total = run.epochs_total;
    const text = total ? `${done}/${total}` : integer(run.epochs_done);
    if (run.status !== "running" || !total) return text;
    // The epoch in progress counts by its steps (progress.json), so the bar moves within an epoch.
    const step = run.progress;
    const share = step ? Math.max(0, Math.min(1, step.fraction || 0)) : 0;
    let title = `${done} of ${total} epochs`;
    if (step) {
      title += ` · epoch ${step.epoch}: step ${integer(step.step)}/${integer(step.steps_per_epoch)}`;
      if (nophd.isNumber(step.run_eta_seconds)) title += ` · run ETA ${nophd.clockDuration(step.run_eta_seconds)}`;
    }
    const bar = el("span", { class: "progress", title, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done + share },
      el("span", { style: { width: `${Math.min(100, (100 * (done + share)) / total).toFixed(1)}%` } }));
    const parts = [text, bar];
    if (step && nophd.isNumber(step.run_eta_seconds)) parts.push(el("span", { class: "note eta", text: ` ETA ${nophd.clockDuration(step.run_eta_seconds)}` }));
    return parts;
  }

  function sorted(runs) {
    const column = COLUMNS.find((entry) => entry[0] === sort.key) || COLUMNS[8];
    const value = column[2];
    const copy = [...runs];
    copy.sort((a, b) => {
      const left = value(a);
      const right = value(b);
      const order = typeof left === "number" && typeof right === "number" ? left - right : String(left).localeCompare(String(right));
      return sort.descending ? -order : order;
    });
    return copy;
  }

  function renderRuns(data) {
    const container = document.getElementById("runs");
    if (!data.runs.length) {
      const folder = data.runs_dir;
      nophd.replace(container, el("div", { class: "empty" },
        el("p", {}, data.runs_dir_exists ? ["No runs in ", el("code", { text: folder }), " yet."]
          : [el("code", { text: folder }), " does not exist yet."]),
        el("p", {}, "Train one in another terminal; it appears here by itself, and its curves grow as it trains:"),
        nophd.commandLine(`nophd train mnist --model dense --runs-root ${folder}`)));
      return;
    }
    const head = el("tr", {}, el("th", { class: "select" }, ""), COLUMNS.map(([key, heading, , , numeric]) => {
      const classes = ["sortable", numeric ? "number" : ""];
      if (sort.key === key) classes.push(sort.descending ? "sorted-desc" : "sorted-asc");
      return el("th", {
        class: classes.join(" ").trim(), text: heading, dataset: { key }, title: "Sort",
        onclick: () => {
          sort = sort.key === key ? { key, descending: !sort.descending } : { key, descending: numeric };
          saveSort();
          renderRuns(lastData);
        },
      });
    }));
    const rows = sorted(data.runs).map((run) => {
      const box = el("input", { type: "checkbox", "aria-label": `select ${run.id}`, checked: selected.has(run.id) });
      box.addEventListener("change", () => {
        if (box.checked) selected.add(run.id);
        else selected.delete(run.id);
        updateCompareButton();
      });
      return el("tr", { dataset: { runId: run.id, status: run.status }, class: run.problems && run.problems.length ? "has-problems" : "" },
        el("td", {}, box),
        COLUMNS.map(([, , , cell, numeric]) => el("td", { class: numeric ? "number" : "" }, cell(run))));
    });
    nophd.replace(container, el("div", { class: "scroll" }, el("table", { id: "runs-table" }, el("thead", {}, head), el("tbody", {}, rows))));
  }

  function updateCompareButton() {
    const known = new Set((lastData ? lastData.runs : []).map((run) => run.id));
    for (const id of [...selected]) if (!known.has(id)) selected.delete(id);
    const button = document.getElementById("compare-button");
    button.disabled = selected.size < 2;
    document.getElementById("selection-note").textContent = selected.size
      ? `${selected.size} selected.` : "Tick two or more runs to overlay their curves.";
  }

  function renderLadders(data) {
    const container = document.getElementById("ladders");
    nophd.replace(container, data.ladders.map((ladder) => {
      const best = Math.max(...ladder.rows.map((row) => row.test_accuracy ?? 0), 0);
      const rows = ladder.rows.map((row) => el("tr", {},
        el("td", {}, row.run_id ? el("a", { href: nophd.runPage(row.run_id), text: row.model || "?" }) : (row.model || "?")),
        el("td", { class: "muted", text: row.description || "" }),
        el("td", { class: "number", text: integer(row.parameters) }),
        el("td", { class: "number", text: integer(row.epochs) }),
        el("td", { class: "number", text: duration(row.wall_seconds) }),
        el("td", { class: "number" }, row.test_accuracy === best ? el("strong", { text: percent(row.test_accuracy) }) : percent(row.test_accuracy)),
        el("td", {}, el("span", { class: "bar", style: { width: `${Math.max(0, ((row.test_accuracy ?? 0) - 0.5) / 0.5) * 160}px` } })),
        el("td", { class: "number", text: row.codelab_text || percent(row.codelab_accuracy) })));
      return el("section", { class: "ladder", dataset: { ladder: ladder.id } },
        el("h2", { text: `The ladder: ${ladder.id}` }),
        nophd.problemsBox(ladder.problems),
        el("div", { class: "scroll" }, el("table", {},
          el("thead", {}, el("tr", {}, ["model", "description", "parameters", "epochs", "wall time", "test accuracy", "", "codelab"]
            .map((heading, index) => el("th", { class: [2, 3, 4, 5, 7].includes(index) ? "number" : "", text: heading })))),
          el("tbody", {}, rows))),
        ladder.has_image ? el("details", {}, el("summary", { text: "The ladder as a chart" }),
          el("figure", { class: "card" }, el("img", { src: `/api/ladders/${encodeURIComponent(ladder.id)}/ladder.png`, alt: "Test accuracy per model" }))) : null);
    }));
  }

  function renderTensorBoard(data) {
    const container = document.getElementById("tensorboard");
    const withBoard = data.runs.filter((run) => run.has_tensorboard).length;
    nophd.replace(container,
      el("p", {}, withBoard
        ? `${withBoard} of these runs wrote TensorBoard event files (their tensorboard/ folder). To browse them in TensorBoard:`
        : "nophd train also writes TensorBoard event files into each run's tensorboard/ folder. To browse them in TensorBoard:"),
      nophd.commandLine(data.tensorboard_command),
      data.tensorboard_installed ? null : el("p", { class: "note" }, "TensorBoard is not installed in this environment: ", el("code", { text: "pip install tensorboard" })));
  }

  async function refresh() {
    let data;
    try {
      data = await nophd.api("/api/runs");
    } catch (error) {
      document.getElementById("updated").textContent = `Not updated: ${error.message}`;
      return;
    }
    const text = JSON.stringify(data);
    document.getElementById("updated").textContent = `Updated ${nophd.clock()}.`;
    if (text === lastText) return;
    lastText = text;
    lastData = data;
    const where = document.getElementById("where");
    nophd.replace(where, "runs in ", el("code", { text: data.runs_dir }));
    renderRuns(data);
    renderLadders(data);
    renderTensorBoard(data);
    updateCompareButton();
  }

  document.getElementById("compare-button").addEventListener("click", () => {
    if (selected.size >= 2) location.href = nophd.comparePage([...selected]);
  });
  nophd.every(() => REFRESH_SECONDS, refresh);
})();

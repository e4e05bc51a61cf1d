// The compare page: the curves of two or more runs overlaid, one colour per
// run. The selection lives in the address (?runs=a,b) so a comparison can be
// bookmarked; running runs are polled and their lines grow.
"use strict";

(() => {
  const { el, percent, duration, integer, fixed, rate } = nophd;
  const REFRESH_SECONDS = 3;
  const METRICS = [
    ["val_accuracy", "Validation accuracy", "accuracy", [0, 1]],
    ["accuracy", "Training accuracy", "accuracy", [0, 1]],
    ["val_loss", "Validation loss", "loss", [0, Infinity]],
    ["loss", "Training loss", "loss", [0, Infinity]],
    ["learning_rate", "Learning rate", "rate", [0, Infinity]],
  ];
  const FORMATS = {
    accuracy: (value, precise) => percent(value, precise ? 2 : 1),
    loss: (value) => fixed(value, 3),
    rate,
  };

  // ?runs=a,b with each id escaped on its own, so an id may hold "/" or ",": split first, then decode.
  const rawRuns = location.search.slice(1).split("&").find((part) => part.startsWith("runs="));
  let selected = rawRuns ? rawRuns.slice(5).split(",").map((part) => {
    try { return decodeURIComponent(part.replace(/\+/g, " ")); } catch (error) { return ""; }
  }).filter(Boolean) : [];
  selected = [...new Set(selected)];
  const histories = new Map();
  const configs = new Map(); // Run id -> config.json (null when unreadable), fetched once.
  let onlyDifferences = false;
  const charts = {};
  let runs = [];
  let lastListText = "";
  let lastDrawn = "";

  function colour(id) {
    return nophdCharts.PALETTE[Math.max(0, selected.indexOf(id)) % nophdCharts.PALETTE.length];
  }

  function setSelection(ids) {
    selected = ids;
    const query = ids.length ? `?runs=${ids.map(encodeURIComponent).join(",")}` : "";
    history.replaceState(null, "", `/compare${query}`);
    renderPicker();
    refresh();
  }

  function renderPicker() {
    const picker = document.getElementById("picker");
    if (!runs.length) {
      nophd.replace(picker, el("p", { class: "missing", text: "No runs yet." }));
      return;
    }
    nophd.replace(picker, runs.map((run) => {
      const checked = selected.includes(run.id);
      const box = el("input", { type: "checkbox", checked, dataset: { runId: run.id } });
      box.addEventListener("change", () => setSelection(box.checked ? [...selected, run.id] : selected.filter((id) => id !== run.id)));
      return el("label", { class: checked ? "checked" : "" }, box, " ",
        checked ? el("span", { class: "swatch-inline", style: { background: colour(run.id) } }) : null,
        `${run.id}`, el("span", { class: "muted", text: ` ${run.model || ""}` }));
    }));
  }

  function renderSelected() {
    const container = document.getElementById("selected");
    if (selected.length < 2) {
      nophd.replace(container, el("p", { class: "note", text: selected.length ? "Pick at least one more run." : "Pick two or more runs above." }));
    } else {
      nophd.replace(container);
    }
    const rows = selected.map((id) => {
      const run = runs.find((candidate) => candidate.id === id);
      if (!run) return el("tr", {}, el("td", { colspan: 7, class: "error", text: `${id}: no such run` }));
      return el("tr", {},
        el("td", {}, el("span", { class: "swatch-inline", style: { background: colour(id) } }), el("a", { href: nophd.runPage(id), text: id })),
        el("td", { text: run.model || "—" }),
        el("td", {}, nophd.statusBadge(run.status)),
        el("td", { class: "number", text: run.epochs_total ? `${run.epochs_done ?? 0}/${run.epochs_total}` : integer(run.epochs_done) }),
        el("td", { class: "number", text: percent(run.best_val_accuracy) }),
        el("td", { class: "number", text: percent(run.test_accuracy) }),
        el("td", { class: "number", text: duration(run.wall_seconds) }));
    });
    if (rows.length) {
      container.append(el("div", { class: "scroll" }, el("table", { id: "compare-table" },
        el("thead", {}, el("tr", {}, ["run", "model", "status", "epochs", "best val. accuracy", "test accuracy", "wall time"]
          .map((heading, index) => el("th", { class: index >= 3 ? "number" : "", text: heading })))),
        el("tbody", {}, rows))));
    }
  }

  function renderCharts() {
    const xMax = Math.max(0, ...selected.map((id) => (histories.get(id) || {}).epochs_total || 0));
    for (const [key, title, kind, clamp] of METRICS) {
      const options = {
        title, yLabel: kind === "rate" ? "learning rate" : kind, xMax, clampY: clamp, yFormat: FORMATS[kind], logToggle: kind !== "accuracy",
        empty: selected.length ? "no epochs recorded yet" : "pick runs above",
        series: selected.filter((id) => histories.has(id)).map((id) => ({
          name: id, color: colour(id), points: histories.get(id).rows.map((row) => [row.epoch, row[key]]),
        })),
      };
      if (charts[key]) charts[key].update(options);
      else charts[key] = nophdCharts.lineChart(document.getElementById(`chart-${key}`), options);
    }
  }

  function configText(value) {
    if (value === undefined) return "—";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // The runs' configurations side by side (as TensorBoard's HParams table), the fields that differ marked.
  function renderConfigs() {
    const container = document.getElementById("configs");
    const ids = selected.filter((id) => configs.has(id));
    if (!ids.length) {
      nophd.replace(container, el("p", { class: "note", text: "The configurations of the runs you pick appear here." }));
      return;
    }
    const keys = [];
    for (const id of ids) for (const key of Object.keys(configs.get(id) || {})) if (!keys.includes(key)) keys.push(key);
    const differs = (key) => new Set(ids.map((id) => configText((configs.get(id) || {})[key]))).size > 1;
    const shown = keys.filter((key) => !onlyDifferences || differs(key));
    const toggle = el("input", { type: "checkbox", id: "only-differences", checked: onlyDifferences });
    toggle.addEventListener("change", () => { onlyDifferences = toggle.checked; renderConfigs(); });
    const count = keys.filter(differs).length;
    nophd.replace(container,
      el("div", { class: "toolbar" }, el("label", {}, toggle, " only the fields that differ"),
        el("span", { class: "note", text: `${count} of ${keys.length} field(s) differ` })),
      el("div", { class: "scroll" }, el("table", { id: "config-table", class: "config-compare" },
        el("thead", {}, el("tr", {}, el("th", { text: "field" }), ids.map((id) =>
          el("th", {}, el("span", { class: "swatch-inline", style: { background: colour(id) } }), id)))),
        el("tbody", {}, shown.map((key) => el("tr", { class: differs(key) ? "differs" : "", dataset: { field: key } },
          el("th", { text: key }),
          ids.map((id) => {
            const config = configs.get(id);
            return el("td", {}, config === null ? el("span", { class: "missing", text: "unreadable" })
              : el("code", { text: configText(config[key]) }));
          })))))));
  }

  async function loadConfigs() {
    const missing = selected.filter((id) => !configs.has(id) && runs.some((run) => run.id === id));
    if (!missing.length) return false;
    await Promise.all(missing.map(async (id) => {
      try {
        configs.set(id, (await nophd.api(nophd.runApi(id))).config || null);
      } catch (error) {
        configs.set(id, null);
      }
    }));
    return true;
  }

  async function refresh() {
    try {
      const list = await nophd.api("/api/runs");
      runs = list.runs;
      nophd.replace(document.getElementById("where"), "runs in ", el("code", { text: list.runs_dir }));
      const listText = JSON.stringify([runs, selected]);
      if (listText !== lastListText) {
        lastListText = listText;
        renderPicker();
        renderSelected();
        await loadConfigs();
        renderConfigs();
      }
    } catch (error) {
      nophd.replace(document.getElementById("selected"), el("p", { class: "error", text: error.message }));
      return;
    }
    const known = new Set(runs.map((run) => run.id));
    await Promise.all(selected.filter((id) => known.has(id)).map(async (id) => {
      const cached = histories.get(id);
      if (cached && cached.status === "finished") return; // Finished runs do not change.
      try {
        histories.set(id, await nophd.api(nophd.runApi(id, "/history")));
      } catch (error) {
        histories.delete(id);
      }
    }));
    const drawn = JSON.stringify(selected.map((id) => [id, (histories.get(id) || {}).version || ""]));
    if (drawn !== lastDrawn) {
      lastDrawn = drawn;
      renderCharts();
    }
  }

  renderCharts();
  nophd.every(() => REFRESH_SECONDS, refresh);
})();

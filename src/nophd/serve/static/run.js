// The run page: facts, live curves (history.csv polled every 2 s while the
// run trains, redrawn only when it changed), the learning-rate schedule,
// "try it", the pictures the run wrote, its misclassified examples, the
// model summary, the configuration and the TensorBoard command.
"use strict";

(() => {
  const { el, percent, integer, duration, when, rate, fixed } = nophd;
  const LIVE_SECONDS = 2;
  const IDLE_SECONDS = 15;
  const TRAIN = "#4c72b0";
  const VALIDATION = "#dd8452";

  const runId = location.pathname.replace(/^\/runs\//, "").replace(/\/+$/, "").split("/").map(decodeURIComponent).join("/");
  const charts = {};
  let detail = null;
  let historyVersion = "";
  let status = "";
  let detailStatus = "";
  let pictureVersion = "";

  function chart(name, options) {
    if (charts[name]) charts[name].update(options);
    else charts[name] = nophdCharts.lineChart(document.getElementById(`chart-${name}`), options);
  }

  function column(rows, key) {
    return rows.map((row) => [row.epoch, row[key]]);
  }

  function renderCurves(history) {
    const rows = history.rows;
    const xMax = history.epochs_total || 0;
    chart("loss", {
      title: "Loss", yLabel: "cross-entropy", xMax, yFormat: (value) => fixed(value, 3), clampY: [0, Infinity], logToggle: true,
      series: [
        { name: "training", color: TRAIN, points: column(rows, "loss") },
        { name: "validation", color: VALIDATION, points: column(rows, "val_loss") },
      ],
    });
    chart("accuracy", {
      title: "Accuracy", yLabel: "accuracy", xMax, clampY: [0, 1],
      yFormat: (value, precise) => percent(value, precise ? 2 : 1),
      series: [
        { name: "training", color: TRAIN, points: column(rows, "accuracy") },
        { name: "validation", color: VALIDATION, points: column(rows, "val_accuracy") },
      ],
    });
    const planned = history.planned_learning_rates.map((value, index) => [index + 1, value]);
    chart("lr", {
      title: "Learning rate per epoch", yLabel: "learning rate", xMax, yFormat: rate, clampY: [0, Infinity], logToggle: true,
      empty: "no learning rate recorded yet",
      series: [
        { name: "epochs done", color: "#2b7a4b", points: column(rows, "learning_rate") },
        { name: "planned", color: "#8b929b", points: planned, dashed: true },
      ],
    });
    const config = (detail && detail.config) || {};
    const decay = config.lr_decay;
    const lrNote = document.getElementById("lr-note");
    if (config.task === "photos" && nophd.isNumber(config.learning_rate)) {
      nophd.replace(lrNote, `Transfer learning: ${config.epochs} epoch(s) with the backbone frozen at ${config.learning_rate}`,
        config.fine_tune_epochs ? `, then ${config.fine_tune_epochs} of fine-tuning at ${config.fine_tune_learning_rate}` : "",
        ". Solid: epochs done; dashed: planned.");
    } else if (nophd.isNumber(config.learning_rate) && history.planned_learning_rates.length) {
      nophd.replace(lrNote, nophd.isNumber(decay)
        ? ["Exponential decay, as in the codelab: the learning rate of epoch e (counting from 0) is ",
          el("code", { text: `${config.learning_rate} × ${decay}^e` }), ". Solid: epochs done; dashed: planned."]
        : ["A constant learning rate of ", el("code", { text: String(config.learning_rate) }),
          config.optimizer ? ` with ${String(config.optimizer).toUpperCase()}` : "", "."]);
    } else {
      nophd.replace(lrNote, "The learning rate each epoch used, as history.csv records it.");
    }
  }

  function renderLive(history) {
    const state = document.getElementById("live-state");
    const last = history.rows[history.rows.length - 1];
    const progress = `epoch ${history.epochs_done ?? 0}${history.epochs_total ? `/${history.epochs_total}` : ""}`;
    if (history.status === "running") {
      nophd.replace(state, el("span", { class: "live", id: "live", text: `live · ${progress} · checked ${nophd.clock()}` }));
    } else {
      nophd.replace(state, el("span", { class: "note", id: "live", text: `${progress}${last ? "" : " · no epoch recorded"}` }));
    }
    renderStepProgress(history.progress);
  }

  // The epoch in progress (progress.json, about once a second while training): step N/M, ETA, a bar.
  function renderStepProgress(step) {
    const container = document.getElementById("epoch-progress");
    if (!step) {
      nophd.replace(container);
      container.hidden = true;
      return;
    }
    container.hidden = false;
    const share = Math.max(0, Math.min(1, step.fraction || 0));
    const parts = [`epoch ${step.epoch}${step.epochs ? `/${step.epochs}` : ""}`, `step ${integer(step.step)}/${integer(step.steps_per_epoch)}`];
    if (nophd.isNumber(step.eta_seconds)) parts.push(`epoch ETA ${nophd.clockDuration(step.eta_seconds)}`);
    if (nophd.isNumber(step.run_eta_seconds)) parts.push(`run ETA ${nophd.clockDuration(step.run_eta_seconds)}`);
    if (nophd.isNumber(step.loss)) parts.push(`loss ${fixed(step.loss, 4)}`);
    if (nophd.isNumber(step.accuracy)) parts.push(`accuracy ${percent(step.accuracy)}`);
    nophd.replace(container,
      el("div", { class: "step-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": step.steps_per_epoch, "aria-valuenow": step.step },
        el("span", { style: { width: `${(100 * share).toFixed(1)}%` } })),
      el("span", { id: "step-text", text: parts.join(" · ") }));
  }


  function renderWarnings(run) {
    const warnings = run.warnings || [];
    nophd.replace(document.getElementById("warnings"), warnings.length
      ? el("div", { class: "warnings", role: "status" }, warnings.map((warning) =>
        el("p", { class: "warning", dataset: { kind: warning.kind } }, el("strong", { text: "Warning: " }), warning.message)))
      : null);
  }

  function renderHeader(run) {
    document.title = `${run.model || run.name}: nophd`;
    nophd.replace(document.getElementById("run-header"),
      el("p", { class: "note" }, el("a", { href: "/", text: "All runs" }), run.group ? ` · ${run.group}` : ""),
      el("h1", { text: `${run.model || run.name}${run.dataset ? ` on ${run.dataset}` : ""}` }),
      el("p", { class: "subtitle" }, "run ", el("code", { text: run.id }), " · ", nophd.statusBadge(run.status)));
    nophd.replace(document.getElementById("problems"), nophd.problemsBox(run.problems));
    const config = run.config || {};
    const facts = [
      ["status", run.status],
      ["epochs", run.epochs_total ? `${run.epochs_done ?? 0} of ${run.epochs_total}` : integer(run.epochs_done)],
      ["best val. accuracy", percent(run.best_val_accuracy)],
      ["test accuracy", percent(run.test_accuracy)],
      ["wall time", duration(run.wall_seconds)],
      ["parameters", integer(run.parameters)],
      ["optimizer", config.optimizer ? String(config.optimizer) : "—"],
      ["batch size", integer(config.batch_size)],
      ["started", when(run.started_at)],
    ];
    nophd.replace(document.getElementById("facts"), facts.map(([name, value]) => el("div", {}, el("dt", { text: name }), el("dd", { text: value }))));
    const where = document.getElementById("where");
    nophd.replace(where, el("code", { text: run.id }));
  }

  function fileUrl(name) {
    return nophd.runApi(runId, `/files/${encodeURIComponent(name)}`) + `?v=${encodeURIComponent(pictureVersion)}`;
  }

  function picture(name, alt, caption, missing) {
    if (!detail.files.includes(name)) return el("p", { class: "missing", text: missing });
    return el("figure", { class: "card" }, el("img", { src: fileUrl(name), alt, id: `picture-${name.replace(".png", "")}` }), el("figcaption", { text: caption }));
  }

  function renderPictures() {
    const finishedLater = detail.status === "running" ? "Written when the run finishes." : "Not written for this run.";
    nophd.replace(document.getElementById("predictions"), picture("predictions.png", "Prediction grid",
      detail.kind === "photos" ? "Validation images with their predicted labels; wrong ones in red."
        : "Digits rendered from fonts, then test digits, with the predicted label under each; wrong ones in red.", finishedLater));
    renderConfusion();
  }

  // A user's own Keras model (nophd.RunFolder): nophd cannot prepare its inputs, so it is not fed here.
  const OWN_MODEL = "A model of your own, recorded with nophd.RunFolder: nophd cannot prepare its inputs, "
    + "so load its model.keras in your own code to try it.";

  function renderTryIt() {
    const container = document.getElementById("tryit");
    if (detail.takes_inputs === false) {
      document.getElementById("try-title").textContent = "Try it";
      nophd.replace(container, el("p", { class: "missing", id: "not-tryable", text: OWN_MODEL }));
      return;
    }
    if (!detail.has_model) {
      nophd.replace(container, el("p", { class: "missing", text: detail.status === "running"
        ? "The model appears when the run finishes; this section then lets you draw a digit for it."
        : "This run has no model.keras, so there is nothing to try." }));
      return;
    }
    if (detail.model_ok === false) {
      // model.keras is there but does not load (truncated, from another Keras): say why instead of offering input.
      nophd.replace(container, el("p", { class: "error", id: "model-error",
        text: `model.keras cannot be loaded${detail.model_error ? `: ${detail.model_error}` : "."}` }));
      return;
    }
    const predictUrl = nophd.runApi(runId, "/predict");
    if (detail.kind === "photos") {
      document.getElementById("try-title").textContent = "Try it: a photo, pasted, dropped or from the camera";
      nophdTry.photoPicker(container, predictUrl);
    } else {
      document.getElementById("try-title").textContent = "Try it: draw a digit";
      nophdTry.digitPad(container, predictUrl);
    }
  }

  const MISTAKES_SHOWN = 40;
  let mistakes = null; // /misclassified's answer (up to 500 examples), fetched once per page.
  let mistakeFilter = null; // {label, predicted}: a confusion-matrix cell the user clicked.

  async function renderMistakes() {
    const container = document.getElementById("misclassified");
    if (detail.takes_inputs === false) {
      nophd.replace(container, el("p", { class: "missing", text: OWN_MODEL }));
      return;
    }
    if (!detail.has_model || detail.model_ok === false) {
      nophd.replace(container, el("p", { class: "missing", text: detail.model_ok === false
        ? "The model cannot be loaded, so its mistakes cannot be computed." : "Computed from the final model, when the run has finished." }));
      return;
    }
    nophd.replace(container, el("p", { class: "muted", text: "Running the model over the test set…" }));
    try {
      mistakes = await nophd.api(nophd.runApi(runId, "/misclassified?limit=500"));
    } catch (error) {
      nophd.replace(container, el("p", { class: "error", text: error.message }));
      return;
    }
    showMistakes();
  }

  function showMistakes() {
    const container = document.getElementById("misclassified");
    const result = mistakes;
    if (!result) return;
    if (!result.available) {
      nophd.replace(container, el("p", { class: "missing", text: `Not available: ${result.reason}` }));
      return;
    }
    const what = result.what || "test digits";
    const photos = what !== "test digits";
    const chosen = mistakeFilter
      ? result.examples.filter((example) => example.label === mistakeFilter.label && example.predicted === mistakeFilter.predicted)
      : result.examples.slice(0, MISTAKES_SHOWN);
    const cards = chosen.map((example) => el("div", { class: photos ? "mistake photo" : "mistake", title: `${what} #${example.index}`,
      dataset: { label: example.label, predicted: example.predicted } },
      el("img", { src: example.image, alt: `${what} #${example.index}` }),
      el("div", {},
        el("div", { class: "verdict" }, `${example.label} → `, el("span", { class: "wrong", text: example.predicted })),
        el("ol", {}, example.top.map((entry) => el("li", { text: `${entry.label}: ${(100 * entry.probability).toFixed(1)}%` }))))));
    const summary = el("p", { class: "note" }, `${integer(result.errors)} of ${integer(result.test_examples)} ${what} wrong (accuracy ${percent(result.accuracy)}). `);
    let filterNote = null;
    if (mistakeFilter) {
      const all = el("button", { type: "button", id: "show-all-mistakes", text: "show all mistakes" });
      all.addEventListener("click", () => { mistakeFilter = null; markCell(); showMistakes(); });
      filterNote = el("p", { class: "filter-note", id: "mistake-filter" },
        mistakeFilter.label === mistakeFilter.predicted
          ? `True ${mistakeFilter.label}, predicted ${mistakeFilter.predicted}: these are right, and only mistakes are kept. `
          : `True ${mistakeFilter.label}, predicted ${mistakeFilter.predicted}: ${chosen.length} example(s)`
            + (result.examples.length < result.errors ? ` among the ${result.examples.length} most confident mistakes` : "") + ". ",
        all);
    } else if (chosen.length) {
      summary.append(`The ${chosen.length} most confident mistakes first: true label → predicted, with the top three probabilities. `
        + "Click a cell of the confusion matrix to see its examples.");
    }
    nophd.replace(container, summary, filterNote,
      chosen.length ? el("div", { class: "mistakes", id: "mistakes" }, cards)
        : el("p", { class: "missing", text: mistakeFilter ? "No example kept for this cell." : "No mistakes." }));
  }

  // The confusion matrix as a table (from metrics.json) whose cells show their examples when clicked,
  // and the per-class accuracy table; the picture when metrics.json has no matrix (runs from before).
  function renderConfusion() {
    const table = detail.per_class;
    const container = document.getElementById("confusion");
    if (!table || !table.confusion) {
      const finishedLater = detail.status === "running" ? "Written when the run finishes." : "Not written for this run.";
      nophd.replace(container, picture("confusion.png", "Confusion matrix", "Rows are the true labels, columns the predicted ones.", finishedLater));
      renderPerClass(table);
      return;
    }
    const names = table.class_names;
    const matrix = table.confusion;
    const header = el("tr", {}, el("th", { class: "corner", text: "true ↓ / predicted →" }), names.map((name) => el("th", { class: "number", text: name })));
    const body = matrix.map((row, trueIndex) => {
      const total = row.reduce((sum, value) => sum + value, 0) || 1;
      return el("tr", {}, el("th", { text: names[trueIndex] }), row.map((count, predictedIndex) => {
        const share = count / total;
        const right = trueIndex === predictedIndex;
        const cell = el("td", {
          class: `cell number${right ? " right" : ""}${count ? "" : " zero"}`, tabindex: count ? 0 : null,
          title: `true ${names[trueIndex]}, predicted ${names[predictedIndex]}: ${count} (${(100 * share).toFixed(1)}% of the row)`,
          dataset: { label: names[trueIndex], predicted: names[predictedIndex] },
          style: { "--share": share.toFixed(3) }, text: String(count),
        });
        const choose = () => {
          mistakeFilter = { label: names[trueIndex], predicted: names[predictedIndex] };
          markCell();
          showMistakes();
          document.getElementById("misclassified").scrollIntoView({ behavior: "smooth", block: "start" });
        };
        if (count) {
          cell.addEventListener("click", choose);
          cell.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(); } });
        }
        return cell;
      }));
    });
    nophd.replace(container,
      el("div", { class: "scroll" }, el("table", { class: "confusion", id: "confusion-matrix" }, el("thead", {}, header), el("tbody", {}, body))),
      el("p", { class: "note", text: "Rows are the true labels, columns the predicted ones; a cell's colour is its share of the row. Click a cell to see its examples below." }));
    renderPerClass(table);
    markCell();
  }

  function markCell() {
    for (const cell of document.querySelectorAll("#confusion-matrix td.cell")) {
      cell.classList.toggle("chosen", !!mistakeFilter && cell.dataset.label === mistakeFilter.label && cell.dataset.predicted === mistakeFilter.predicted);
    }
  }

  function renderPerClass(table) {
    const container = document.getElementById("per-class");
    if (!table) {
      nophd.replace(container, el("p", { class: "missing", text: "metrics.json has no per-class accuracy (written when the run finishes)." }));
      return;
    }
    const worst = Math.min(...table.rows.map((row) => (nophd.isNumber(row.accuracy) ? row.accuracy : 1)));
    nophd.replace(container, el("div", { class: "scroll" }, el("table", { id: "per-class-table" },
      el("thead", {}, el("tr", {}, ["class", "examples", "predicted as it", "precision", "recall (accuracy)", "F1", ""].map((heading, index) =>
        el("th", { class: index && index < 6 ? "number" : "", text: heading })))),
      el("tbody", {}, table.rows.map((row) => el("tr", { class: row.accuracy === worst && table.rows.length > 1 ? "worst" : "", dataset: { label: row.label } },
        el("td", { text: row.label }),
        el("td", { class: "number", text: integer(row.examples) }),
        el("td", { class: "number", text: integer(row.predicted) }),
        el("td", { class: "number", text: percent(row.precision) }),
        el("td", { class: "number", text: percent(row.accuracy) }),
        el("td", { class: "number", text: percent(row.f1) }),
        el("td", { class: "bar-cell" }, el("span", { class: "bar", style: { width: `${(100 * (row.accuracy || 0)).toFixed(1)}%` } })))))),
      nophd.isNumber(table.macro_f1)
        ? el("p", { class: "note", text: `Macro F1 ${percent(table.macro_f1)}: the mean of the classes' F1, every class weighing the same. Precision: the share of a class's predictions that are right; recall: the share of its examples found.` })
        : null));
  }

  function renderSummary() {
    nophd.replace(document.getElementById("summary"), detail.model_summary
      ? el("pre", { text: detail.model_summary.trimEnd() }) : el("p", { class: "missing", text: "summary.txt: not written yet." }));
    const config = detail.config;
    nophd.replace(document.getElementById("config"), config
      ? el("div", { class: "scroll" }, el("table", { class: "keyvalue" }, el("tbody", {}, Object.entries(config).map(([key, value]) =>
        el("tr", {}, el("th", { text: key }), el("td", {}, el("code", { text: typeof value === "string" ? value : JSON.stringify(value) })))))))
      : el("p", { class: "missing", text: "config.json: missing or unreadable." }));
  }

  // MODEL_CARD.md, rendered to HTML by the server with every character of the file escaped (nophd.serve.card);
  // parsed into an inert document, so nothing in it runs, and rebuilt only when it changed.
  let cardHtml = null;
  function renderCard() {
    const container = document.getElementById("model-card");
    const card = detail.model_card;
    const html = card ? card.html : "";
    if (html === cardHtml) return;
    cardHtml = html;
    if (!card) {
      nophd.replace(container, el("p", { class: "missing" }, "MODEL_CARD.md: not written yet (a run writes it when it finishes; ",
        el("code", { text: `nophd card ${runId}` }), " writes one for an older run)."));
      return;
    }
    const parsed = new DOMParser().parseFromString(html, "text/html");
    nophd.replace(container,
      card.by_nophd ? null : el("p", { class: "note", text: "Written by hand: nophd leaves this MODEL_CARD.md as it is." }),
      el("div", { class: "model-card" }, Array.from(parsed.body.childNodes)));
  }

  function renderFiles() {
    const links = detail.files.map((name) => el("li", {}, el("a", { href: fileUrl(name), text: name, target: name === "report.html" ? "_blank" : null })));
    const compare = document.getElementById("compare-link");
    compare.href = `/compare?runs=${encodeURIComponent(runId)}`;
    nophd.replace(document.getElementById("files"),
      links.length ? el("ul", {}, links) : el("p", { class: "missing", text: "No pictures or report written yet." }),
      el("p", {}, detail.has_tensorboard
        ? "This run wrote TensorBoard event files (its tensorboard/ folder). Open them with:"
        : "TensorBoard event files go into the run's tensorboard/ folder when nophd train writes them. Open them with:"),
      nophd.commandLine(detail.tensorboard_command),
      detail.tensorboard_installed ? null : el("p", { class: "note" }, "TensorBoard is not installed here: ", el("code", { text: "pip install tensorboard" })));
  }

  const FORMAT_NOTES = {
    savedmodel: "TensorFlow SavedModel (TF Serving, TF.js converter); downloaded as a .zip",
    tflite: "TensorFlow Lite, float (phones)",
    "tflite-int8": "TensorFlow Lite, 8-bit integers (microcontrollers, Edge TPU)",
    onnx: "ONNX, float (ONNX Runtime; needs pip install 'nophd[onnx]' on the server)",
    web: "Web app: the float TFLite model in LiteRT.js, offline in a browser (about 19 MB with its runtime); downloaded as a .zip, served with python -m http.server",
  };
  let exportTimer = null;

  // model.keras and the exports to download; a button per format runs `nophd export` on the server.
  async function renderDownloads() {
    const container = document.getElementById("downloads");
    clearTimeout(exportTimer);
    if (!detail.has_model) {
      nophd.replace(container, el("p", { class: "missing", text: "The model and its exports can be downloaded when the run has finished." }));
      return;
    }
    let listing;
    try {
      listing = await nophd.api(nophd.runApi(runId, "/exports"));
    } catch (error) {
      nophd.replace(container, el("p", { class: "error", text: error.message }));
      return;
    }
    const job = listing.job;
    const running = job && job.state === "running";
    const canExport = detail.status === "finished" && detail.model_ok !== false && detail.takes_inputs !== false;
    const rows = listing.formats.map((entry) => {
      const button = el("button", { type: "button", class: entry.exists ? "" : "primary", dataset: { format: entry.format },
        text: entry.exists ? "export again" : "export", disabled: running || !canExport });
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await nophd.api(nophd.runApi(runId, `/exports/${entry.format}`), { method: "POST" });
        } catch (error) {
          nophd.replace(document.getElementById("export-state"), el("span", { class: "error", text: error.message }));
          return;
        }
        renderDownloads();
      });
      return el("tr", { dataset: { format: entry.format } },
        el("td", {}, el("strong", { text: entry.format }), el("div", { class: "note", text: FORMAT_NOTES[entry.format] || "" })),
        el("td", { class: "number", text: entry.exists ? percent(entry.accuracy) : "—" }),
        el("td", { class: "number", text: entry.exists ? size(entry.file_bytes) : "—" }),
        el("td", { class: "number", text: entry.exists && nophd.isNumber(entry.latency_ms) ? `${entry.latency_ms.toFixed(2)} ms` : "—" }),
        el("td", {}, entry.exists
          ? el("a", { class: "button download", href: nophd.runApi(runId, `/download/export/${entry.format}`), download: "", text: "download" })
          : null, " ", button));
    });
    let state = null;
    if (job) {
      const seconds = ((job.finished_at || Date.now() / 1000) - job.started_at);
      state = el("span", { class: job.state === "failed" ? "error" : job.state === "running" ? "live" : "note",
        dataset: { state: job.state }, text: `${job.message} (${duration(seconds)})` });
    }
    nophd.replace(container,
      el("p", {}, el("a", { class: "button download", id: "download-model", href: nophd.runApi(runId, "/download/model.keras"), download: "" },
        "download model.keras"), " ", el("span", { class: "note", text: "the trained Keras model (keras.models.load_model)" })),
      el("div", { class: "scroll" }, el("table", { id: "exports-table" },
        el("thead", {}, el("tr", {}, ["format", "accuracy", "size", "latency (1 image)", ""].map((heading, index) =>
          el("th", { class: index && index < 4 ? "number" : "", text: heading })))),
        el("tbody", {}, rows))),
      el("p", { id: "export-state" }, state),
      canExport ? null : el("p", { class: "note", text: detail.takes_inputs === false
        ? "nophd exports only the models it builds; export a model of your own with Keras (model.export)."
        : "Only a finished run with a model that loads can be exported." }));
    if (running) exportTimer = setTimeout(renderDownloads, 1000);
  }

  function size(bytes) {
    if (!nophd.isNumber(bytes)) return "—";
    if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
    if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} KB`;
    return `${bytes} B`;
  }

  // `full`: also the sections that should not be rebuilt on every epoch (a drawing in progress).
  async function loadDetail(full) {
    detail = await nophd.api(nophd.runApi(runId));
    detailStatus = detail.status;
    pictureVersion = `${detail.status}-${detail.epochs_done}-${detail.files.length}`;
    renderHeader(detail);
    renderWarnings(detail);
    renderStepProgress(detail.progress);
    renderPictures();
    renderSummary();
    renderCard();
    renderFiles();
    if (full) {
      renderTryIt();
      renderMistakes();
      renderDownloads();
    }
  }

  async function poll() {
    let history;
    try {
      history = await nophd.api(nophd.runApi(runId, "/history"));
    } catch (error) {
      nophd.replace(document.getElementById("live-state"), el("span", { class: "error", text: `not updated: ${error.message}` }));
      return;
    }
    status = history.status;
    if (!detail || history.status !== detailStatus) await loadDetail(true);
    if (history.version === historyVersion) {
      renderLive(history);
      return;
    }
    historyVersion = history.version;
    // A new epoch may change the facts (epochs, best accuracy, wall time).
    if (history.epochs_done !== detail.epochs_done) await loadDetail(false);
    renderCurves(history);
    renderLive(history);
  }

  nophd.every(() => (status === "running" || !status ? LIVE_SECONDS : IDLE_SECONDS), poll);
})();

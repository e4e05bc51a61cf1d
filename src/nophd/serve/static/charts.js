// Line charts for training curves, drawn by uPlot (vendor/uplot, shipped in
// the package: nothing is fetched from elsewhere). A chart shows a few series
// of (epoch, value) points. Hover: the legend under the chart shows every
// series' value at the epoch under the pointer. Zoom: drag across the chart
// to zoom into those epochs, double-click to see them all again. Charts made
// with `logToggle` get a "log scale" box (loss, learning rate).
"use strict";

const nophdCharts = (() => {
  const DEFAULT_HEIGHT = 240;
  // Each chart's uPlot instance by its element: window.nophdChartOf(element), for the browser tests and the console.
  const plots = new WeakMap();
  window.nophdChartOf = (element) => plots.get(element) || null;

  function finite(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  // uPlot wants one x array and one y array per series, aligned: the union of
  // every series' epochs, and, with `xMax`, every epoch up to the planned last
  // one (so the axis shows the whole run while it trains). `log`: values that
  // a log axis cannot show (0 and below) become gaps.
  function aligned(series, xMax, log) {
    const xs = new Set();
    for (const entry of series) for (const [x] of entry.points) xs.add(x);
    if (finite(xMax) && xMax >= 1 && xMax <= 10000) for (let epoch = 1; epoch <= xMax; epoch += 1) xs.add(epoch);
    const axis = [...xs].sort((a, b) => a - b);
    const index = new Map(axis.map((x, position) => [x, position]));
    const columns = series.map((entry) => {
      const column = new Array(axis.length).fill(null);
      for (const [x, y] of entry.points) column[index.get(x)] = log && y <= 0 ? null : y;
      return column;
    });
    return [axis, ...columns];
  }

  function cleanSeries(options) {
    return (options.series || []).map((entry) => ({
      ...entry,
      points: (entry.points || []).filter((point) => finite(point[0]) && finite(point[1])),
    }));
  }

  // The y range: the data padded by 8%, kept within clampY ([0, 1] for an accuracy).
  function linearRange(clampY) {
    return (u, low, high) => {
      if (low === null || high === null || !finite(low) || !finite(high)) return [clampY ? Math.max(0, clampY[0]) : 0, 1];
      const pad = (high - low) * 0.08 || Math.abs(high) * 0.1 || 0.1;
      let bottom = low - pad;
      let top = high + pad;
      if (clampY) {
        bottom = Math.max(clampY[0], bottom);
        top = Math.min(clampY[1], top);
      }
      return top > bottom ? [bottom, top] : [bottom, bottom + 1];
    };
  }

  function logRange(u, low, high) {
    if (!finite(low) || !finite(high) || low <= 0) return [0.001, 1];
    return uPlot.rangeLog(low, high, 10, true);
  }

  // options: {series: [{name, color, points: [[x, y], ...], dashed}], title, xLabel, yLabel,
  //           yFormat(value, precise) -> text, xMax (the planned last epoch), clampY: [low, high],
  //           logToggle (offer a log scale), empty: text when there is no point, height}
  function lineChart(container, initialOptions) {
    let options = initialOptions;
    let plot = null;
    let shape = "";
    let zoomed = false;
    let log = false;
    const root = document.createElement("div");
    root.className = "chart";
    const header = document.createElement("div");
    header.className = "chart-header";
    const title = document.createElement("h3");
    const logLabel = document.createElement("label");
    logLabel.className = "log-toggle";
    const logBox = document.createElement("input");
    logBox.type = "checkbox";
    logLabel.append(logBox, " log scale");
    header.append(title, logLabel);
    const body = document.createElement("div");
    body.className = "chart-body";
    const empty = document.createElement("div");
    empty.className = "empty-text";
    root.append(header, body, empty);
    container.replaceChildren(root);

    logBox.addEventListener("change", () => {
      log = logBox.checked;
      root.dataset.log = String(log);
      rebuild();
    });

    function width() {
      return Math.max(240, Math.floor(root.clientWidth - 24));
    }

    function build(series, data) {
      const format = options.yFormat || ((value) => String(value));
      const xLabel = options.xLabel || "epoch";
      const config = {
        width: width(),
        height: options.height || DEFAULT_HEIGHT,
        scales: {
          x: { time: false },
          y: log ? { distr: 3, log: 10, range: logRange } : { range: linearRange(options.clampY) },
        },
        axes: [
          { label: xLabel, labelSize: 20, size: 36, stroke: "#5f6670", grid: { stroke: "#eceff2" }, ticks: { stroke: "#9aa1aa" },
            incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
          { label: options.yLabel || "", labelSize: 18, size: 56, stroke: "#5f6670", grid: { stroke: "#eceff2" }, ticks: { stroke: "#9aa1aa" },
            values: (u, splits) => splits.map((value) => (value === null ? "" : format(value))) },
        ],
        series: [
          { label: xLabel, value: (u, value) => (value === null || value === undefined ? "—" : String(value)) },
          ...series.map((entry) => ({
            label: entry.name,
            stroke: entry.color,
            width: entry.dashed ? 1.5 : 2,
            dash: entry.dashed ? [5, 4] : undefined,
            spanGaps: true,
            points: { show: !entry.dashed && entry.points.length <= 60, size: 5, fill: entry.color },
            value: (u, value) => (value === null || value === undefined ? "—" : format(value, true)),
          })),
        ],
        cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 7 } },
        legend: { live: true },
        hooks: {
          setSelect: [(u) => { if (u.select.width > 2) zoomed = true; }],
        },
      };
      if (plot) plot.destroy();
      plot = new uPlot(config, data, body);
      plots.set(root, plot);
      plot.over.addEventListener("dblclick", () => { zoomed = false; });
      // The series' names, for the tests and for anyone reading the page's DOM.
      root.dataset.series = JSON.stringify(series.map((entry) => entry.name));
      root.dataset.dashed = String(series.filter((entry) => entry.dashed).length);
    }

    function draw(rebuildPlot) {
      const series = cleanSeries(options);
      const data = aligned(series, options.xMax, log);
      const newShape = JSON.stringify([series.map((entry) => [entry.name, entry.color, !!entry.dashed, entry.points.length <= 60]),
        options.height, options.yLabel, log]);
      title.textContent = options.title || "";
      title.hidden = !options.title;
      logLabel.hidden = !options.logToggle;
      root.dataset.points = String(Math.max(0, ...series.map((entry) => entry.points.length)));
      const points = series.some((entry) => entry.points.length);
      empty.textContent = points ? "" : (options.empty || "no epoch finished yet");
      empty.hidden = points;
      if (rebuildPlot || !plot || newShape !== shape) {
        shape = newShape;
        zoomed = false;
        build(series, data);
      } else {
        // Same series: new points only, and a zoom the user chose stays.
        plot.setData(data, !zoomed);
      }
    }

    function rebuild() {
      draw(true);
    }

    let lastWidth = 0;
    const observer = new ResizeObserver(() => {
      const now = width();
      if (plot && Math.abs(now - lastWidth) > 2) {
        lastWidth = now;
        plot.setSize({ width: now, height: options.height || DEFAULT_HEIGHT });
      }
    });
    observer.observe(root);
    draw(true);
    lastWidth = width();
    return {
      update(newOptions) {
        options = newOptions;
        draw(false);
      },
      element: root,
      get plot() { return plot; },
    };
  }

  // Ten distinguishable colours (matplotlib's "tab10"), for one line per run.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  return { lineChart, PALETTE };
})();

// Line charts as SVG, for training curves: a few series of (epoch, value)
// points, axes with round ticks, a legend, and a tooltip that shows every
// series' value at the epoch under the pointer. Hand-written to keep the
// dashboard free of third-party code; redrawn when the container resizes.
"use strict";

const nophdCharts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const MARGIN = { top: 10, right: 14, bottom: 34, left: 58 };

  function svg(tag, attributes = {}) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  // About `count` round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart).
  function ticks(low, high, count) {
    if (!(high > low)) return [low];
    const raw = (high - low) / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw * 0.75) || raw;
    const values = [];
    for (let value = Math.ceil(low / step - 1e-9) * step; value <= high + step * 1e-9; value += step) {
      values.push(Number(value.toPrecision(12)));
    }
    return values;
  }

  function finitePoints(points) {
    return (points || []).filter((point) => Number.isFinite(point[0]) && Number.isFinite(point[1]));
  }

  // options: {series: [{name, color, points: [[x, y], ...], dashed}], xLabel, yLabel,
  //           yFormat(value) -> text, xMax (the planned last epoch), yMin, yMax (fixed limits),
  //           clampY: [low, high] (limits the automatic range), empty: text when there is no point, height}
  function lineChart(container, initialOptions) {
    let options = initialOptions;
    const root = document.createElement("div");
    root.className = "chart";
    const legend = document.createElement("div");
    legend.className = "legend";
    const tooltip = document.createElement("div");
    tooltip.className = "tooltip";
    tooltip.hidden = true;
    container.replaceChildren(root);
    let lastWidth = 0;

    function draw() {
      const width = Math.max(260, Math.floor(root.clientWidth - 24));
      lastWidth = width;
      const height = options.height || 240;
      const series = (options.series || []).map((entry) => ({ ...entry, points: finitePoints(entry.points) }));
      const all = series.flatMap((entry) => entry.points);
      root.dataset.points = String(Math.max(0, ...series.map((entry) => entry.points.length)));
      const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, height, role: "img",
        "aria-label": options.label || options.yLabel || "chart" });
      const plotWidth = width - MARGIN.left - MARGIN.right;
      const plotHeight = height - MARGIN.top - MARGIN.bottom;

      const xs = all.map((point) => point[0]);
      const xMin = Math.min(1, ...xs);
      const xMax = Math.max(xMin + 1, options.xMax || 0, ...xs);
      let yMin = options.yMin;
      let yMax = options.yMax;
      if (yMin === undefined || yMax === undefined) {
        const ys = all.map((point) => point[1]);
        let low = ys.length ? Math.min(...ys) : 0;
        let high = ys.length ? Math.max(...ys) : 1;
        const pad = (high - low) * 0.08 || Math.abs(high) * 0.1 || 0.1;
        low -= pad;
        high += pad;
        if (options.clampY) {
          low = Math.max(options.clampY[0], low);
          high = Math.min(options.clampY[1], high);
        }
        if (yMin === undefined) yMin = low;
        if (yMax === undefined) yMax = high;
        if (!(yMax > yMin)) yMax = yMin + 1;
      }
      const x = (value) => MARGIN.left + ((value - xMin) / (xMax - xMin)) * plotWidth;
      const y = (value) => MARGIN.top + (1 - (value - yMin) / (yMax - yMin)) * plotHeight;
      const format = options.yFormat || ((value) => String(value));

      const grid = svg("g", { class: "grid" });
      const axis = svg("g", { class: "axis" });
      const yTicks = ticks(yMin, yMax, Math.max(3, Math.floor(plotHeight / 45)));
      for (const value of yTicks) {
        grid.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: y(value), y2: y(value) }));
        const label = svg("text", { x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end" });
        label.textContent = format(value);
        axis.append(label);
      }
      const xTicks = ticks(xMin, xMax, Math.max(2, Math.floor(plotWidth / 70))).filter((value) => Number.isInteger(value));
      for (const value of xTicks) {
        grid.append(svg("line", { x1: x(value), x2: x(value), y1: MARGIN.top, y2: MARGIN.top + plotHeight }));
        const label = svg("text", { x: x(value), y: MARGIN.top + plotHeight + 16, "text-anchor": "middle" });
        label.textContent = String(value);
        axis.append(label);
      }
      axis.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight }));
      axis.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotHeight }));
      const xLabel = svg("text", { x: MARGIN.left + plotWidth / 2, y: height - 2, "text-anchor": "middle" });
      xLabel.textContent = options.xLabel || "epoch";
      axis.append(xLabel);
      chart.append(grid, axis);

      const clip = `clip-${Math.random().toString(36).slice(2)}`;
      const clipPath = svg("clipPath", { id: clip });
      clipPath.append(svg("rect", { x: MARGIN.left - 4, y: MARGIN.top - 4, width: plotWidth + 8, height: plotHeight + 8 }));
      chart.append(clipPath);
      const lines = svg("g", { "clip-path": `url(#${clip})` });
      for (const entry of series) {
        if (!entry.points.length) continue;
        const path = entry.points.map((point, index) => `${index ? "L" : "M"}${x(point[0]).toFixed(1)},${y(point[1]).toFixed(1)}`).join("");
        const line = svg("path", { d: path, class: `series${entry.dashed ? " dashed" : ""}`, stroke: entry.color });
        line.dataset.name = entry.name;
        lines.append(line);
        if (entry.points.length <= 60 && !entry.dashed) {
          for (const point of entry.points) {
            lines.append(svg("circle", { cx: x(point[0]), cy: y(point[1]), r: 2.8, fill: entry.color }));
          }
        }
      }
      chart.append(lines);
      if (!all.length) {
        const text = svg("text", { x: MARGIN.left + plotWidth / 2, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle", class: "empty-text" });
        text.textContent = options.empty || "no epoch finished yet";
        chart.append(text);
      }
      if (options.yLabel) {
        const label = svg("text", { x: 12, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle",
          transform: `rotate(-90 12 ${MARGIN.top + plotHeight / 2})`, class: "axis-label" });
        label.textContent = options.yLabel;
        label.setAttribute("fill", "#5f6670");
        label.setAttribute("font-size", "11");
        chart.append(label);
      }

      // The tooltip: the epoch nearest the pointer, every series' value there.
      const guide = svg("line", { class: "guide", y1: MARGIN.top, y2: MARGIN.top + plotHeight, visibility: "hidden" });
      chart.append(guide);
      const epochs = [...new Set(all.map((point) => point[0]))].sort((a, b) => a - b);
      chart.addEventListener("pointermove", (event) => {
        if (!epochs.length) return;
        const box = chart.getBoundingClientRect();
        const pointer = ((event.clientX - box.left) / box.width) * width;
        const nearest = epochs.reduce((best, value) => (Math.abs(x(value) - pointer) < Math.abs(x(best) - pointer) ? value : best));
        guide.setAttribute("x1", x(nearest));
        guide.setAttribute("x2", x(nearest));
        guide.setAttribute("visibility", "visible");
        const rows = [document.createTextNode(`${options.xLabel || "epoch"} ${nearest}`)];
        for (const entry of series) {
          const point = entry.points.find((candidate) => candidate[0] === nearest);
          if (!point) continue;
          const swatch = document.createElement("span");
          swatch.className = "swatch";
          swatch.style.background = entry.color;
          rows.push(document.createElement("br"), swatch, document.createTextNode(`${entry.name}: ${format(point[1], true)}`));
        }
        tooltip.replaceChildren(...rows);
        tooltip.hidden = false;
        const left = (x(nearest) / width) * box.width + 12;
        tooltip.style.left = `${Math.min(left, box.width - tooltip.offsetWidth + 12)}px`;
        tooltip.style.top = "12px";
      });
      chart.addEventListener("pointerleave", () => {
        tooltip.hidden = true;
        guide.setAttribute("visibility", "hidden");
      });

      legend.replaceChildren(...series.map((entry) => {
        const item = document.createElement("span");
        item.textContent = entry.name;
        item.style.setProperty("--swatch", entry.color);
        if (entry.dashed) item.className = "dashed";
        return item;
      }));
      const title = document.createElement("h3");
      title.textContent = options.title || "";
      root.replaceChildren(...(options.title ? [title] : []), chart, legend, tooltip);
    }

    const observer = new ResizeObserver(() => {
      if (Math.abs(Math.floor(root.clientWidth - 24) - lastWidth) > 2) draw();
    });
    observer.observe(root);
    draw();
    return {
      update(newOptions) {
        options = newOptions;
        draw();
      },
      element: root,
    };
  }

  // Ten distinguishable colours (matplotlib's "tab10"), for one line per run.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  return { lineChart, ticks, PALETTE };
})();

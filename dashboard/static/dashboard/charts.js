// Draws the dashboard's charts with the vendored uPlot (static/dashboard/vendor/) from their data
// blocks: an element with data-chart-data="<id>" names the json_script block holding
// {x: [epoch seconds], y: [counts], step, tz, zone, unit, per, time, seconds}. The server-drawn SVG
// inside the element stays as the fallback (no JavaScript, or no uPlot) and lends its description.
// Times are written in the block's time zone (the user's), not the browser's. The live progress
// fragment is swapped by htmx every few seconds: each swap draws the new fragment's chart.
(function () {
  "use strict";
  var HEIGHT = 220;
  var drawn = []; // [{box, plot}]
  var INTEGERS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];

  function stamper(data) {
    var pattern = !data.time ? "{YYYY}-{MM}-{DD}" : data.seconds ? "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" : "{YYYY}-{MM}-{DD} {HH}:{mm}";
    var format = uPlot.fmtDate(pattern);
    return function (ts) {
      return format(uPlot.tzDate(new Date(ts * 1e3), data.tz)) + (data.zone ? " " + data.zone : "");
    };
  }

  function draw(box) {
    var block = document.getElementById(box.dataset.chartData);
    if (!block) return;
    var data = JSON.parse(block.textContent);
    if (!data.x || !data.x.length) return;
    if (data.x.length === 1) {
      // One bucket (a small broadcast sent within seconds): uPlot widens a one-point time scale by
      // a thousand days, whatever the range callback says; the empty buckets on each side keep the
      // axis on the bucket's own minutes.
      data.x = [data.x[0] - data.step, data.x[0], data.x[0] + data.step];
      data.y = [0, data.y[0], 0];
    }
    var svg = box.querySelector("svg.chart");
    var stamp = stamper(data);
    var half = data.step / 2;
    var what = data.unit + " per " + data.per;
    var holder = document.createElement("div");
    holder.className = "chart-plot";
    holder.setAttribute("role", "img");
    if (svg) holder.setAttribute("aria-label", svg.getAttribute("aria-label"));
    box.appendChild(holder);
    // The SVG goes first: uPlot keeps its canvas's place on the page to follow the cursor.
    if (svg) svg.style.display = "none";
    var plot;
    try {
      plot = makePlot(data, stamp, half, what, box, holder);
    } catch (error) {
      box.removeChild(holder);
      if (svg) svg.style.display = "";
      throw error;
    }
    box.dataset.drawn = "1";
    drawn.push({ box: box, plot: plot });
    return plot;
  }

  function makePlot(data, stamp, half, what, box, holder) {
    return new uPlot(
      {
        width: box.clientWidth || 600,
        height: HEIGHT,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), data.tz); },
        scales: {
          x: { time: true, range: function (u, min, max) { return [min - half, max + half]; } },
          y: { range: function (u, min, max) { return [0, max > 0 ? Math.ceil(max * 1.1) : 1]; } },
        },
        axes: [
          { label: data.time ? "Time" + (data.zone ? " (" + data.zone + ")" : "") : "Day" },
          { label: what, incrs: INTEGERS, size: 60 },
        ],
        series: [
          { label: data.time ? "At" : "Day", value: function (u, v) { return v == null ? "–" : stamp(v); } },
          {
            label: what,
            stroke: "#2f5bea",
            fill: "rgba(47, 91, 234, 0.75)",
            width: 1,
            paths: uPlot.paths.bars({ size: [0.8, 100] }),
            points: { show: false },
            value: function (u, v) { return v == null ? "–" : String(v); },
          },
        ],
        legend: { live: true },
      },
      [data.x, data.y],
      holder
    );
  }

  function drawAll() {
    var cursors = {}; // where the reader was pointing in a chart htmx swapped out: kept on its successor
    drawn = drawn.filter(function (chart) {
      if (document.body.contains(chart.box)) return true;
      if (chart.plot.cursor.left >= 0) cursors[chart.box.dataset.chartData] = { left: chart.plot.cursor.left, top: chart.plot.cursor.top };
      chart.plot.destroy();
      return false;
    });
    if (typeof uPlot === "undefined") return; // the SVG stays
    document.querySelectorAll("[data-chart-data]:not([data-drawn])").forEach(function (box) {
      try {
        var plot = draw(box);
        var cursor = cursors[box.dataset.chartData];
        if (plot && cursor) plot.setCursor(cursor);
      } catch (error) {
        if (window.console) console.error("chart not drawn", error); // the SVG stays
      }
    });
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      drawn.forEach(function (chart) {
        chart.plot.setSize({ width: chart.box.clientWidth || 600, height: HEIGHT });
      });
    }, 100);
  });
  document.body.addEventListener("htmx:afterSwap", drawAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();

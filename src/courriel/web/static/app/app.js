// Courriel's web application: charts (uPlot) from the JSON beside each plot.
// No inline script anywhere (the pages' CSP allows scripts from 'self' only).
"use strict";
(function () {
  var COLOURS = ["#1f4fc4", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490"];

  function draw(element) {
    if (element.dataset.drawn) return;
    var source = document.getElementById(element.id + "-data");
    if (!source || typeof uPlot === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var xs = spec.x.map(function (_, i) { return i; });
    var series = [{ label: "", value: function (_, i) { return i == null ? "" : spec.x[i]; } }];
    var data = [xs];
    spec.series.forEach(function (s, n) {
      series.push({ label: s.label, stroke: COLOURS[n % COLOURS.length], width: 2 });
      data.push(s.values);
    });
    var width = Math.max(280, element.clientWidth || 600);
    new uPlot({
      width: width,
      height: parseInt(element.dataset.height || "220", 10),
      series: series,
      axes: [{ values: function (_, ticks) { return ticks.map(function (t) { return spec.x[t] || ""; }); } }, {}],
      scales: { x: { time: false } },
    }, data, element);
    element.dataset.drawn = "1";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();

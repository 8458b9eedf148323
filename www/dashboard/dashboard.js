/* tristack dashboard: reads /dashboard.json every second, keeps the last two
 * minutes of rates, and draws them on canvases. No library: the charts are
 * a hundred lines of our own. */
"use strict";

(function () {
  var POLL_MS = 1000;
  var WINDOW_S = 120;
  var TIMEOUT_MS = 2500;
  var PALETTE = ["#2a6fdb", "#e07b1a", "#2b9d5b", "#9b4dca", "#c62828", "#14909a",
                 "#b5851b", "#5b6478"];
  var CLASS_COLORS = { "2xx": "#2b9d5b", "3xx": "#2a6fdb", "4xx": "#e0a21a",
                       "5xx": "#c62828", "other": "#8a8f99" };

  /* What a failed check's -errno means (Linux numbers). */
  var ERRNO = { 71: "bad response", 90: "response too large", 104: "connection reset",
                110: "timeout", 111: "connection refused", 113: "no route to host" };

  var prev = null;          /* the previous /dashboard.json */
  var history = [];         /* { t: seconds, values: { key: number|null } } */
  var seriesInfo = {};      /* chart -> [{ key, label, color }] */

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, String(attrs[k]));
      });
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
    return v.toFixed(digits === undefined ? 1 : digits);
  }

  function duration(s) {
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h";
  }

  /* A counter's rate between two polls; null after a reset (restart). */
  function rate(now, before, dt) {
    if (before === undefined || before === null || now === null || now === undefined) return null;
    var d = now - before;
    return d < 0 || dt <= 0 ? null : d / dt;
  }

  /* The q-quantile of a histogram's new observations (non-cumulative bucket
   * deltas), interpolated inside its bucket, in seconds; null when none. */
  function quantile(q, bounds, counts) {
    var total = counts.reduce(function (a, b) { return a + b; }, 0);
    if (total <= 0) return null;
    var rank = q * total, seen = 0;
    for (var i = 0; i < counts.length; i++) {
      if (seen + counts[i] >= rank && counts[i] > 0) {
        var lo = i === 0 ? 0 : bounds[i - 1];
        if (i >= bounds.length) return lo; /* the +Inf bucket: its lower edge */
        return lo + (bounds[i] - lo) * ((rank - seen) / counts[i]);
      }
      seen += counts[i];
    }
    return bounds[bounds.length - 1];
  }

  function sum(o) {
    var s = 0;
    Object.keys(o).forEach(function (k) { s += o[k]; });
    return s;
  }

  /* ---- one poll's worth of rates ---- */

  function sample(cur) {
    var values = {};
    var info = { backends: [], status: [], latency: [], tls: [], lag: [], daemons: [] };
    var dt = prev ? (cur.time_ms - prev.time_ms) / 1000 : 0;
    var before = function (list, name) {
      if (!prev) return null;
      for (var i = 0; i < list.length; i++) if (list[i].name === name) return list[i];
      return null;
    };
    cur.servers.forEach(function (s, i) {
      var p = prev ? before(prev.servers, s.name) : null;
      var key = "backend:" + s.name;
      values[key] = p ? rate(s.requests, p.requests, dt) : null;
      info.backends.push({ key: key, label: s.name, color: PALETTE[i % PALETTE.length] });
    });
    ["2xx", "3xx", "4xx", "5xx", "other"].forEach(function (c) {
      var now = c === "other" ? cur.requests.other + cur.requests["1xx"] : cur.requests[c];
      var was = prev ? (c === "other" ? prev.requests.other + prev.requests["1xx"]
                                      : prev.requests[c]) : null;
      values["status:" + c] = rate(now, was, dt);
      info.status.push({ key: "status:" + c, label: c, color: CLASS_COLORS[c] });
    });
    var p50 = null, p99 = null;
    if (prev && prev.latency && cur.latency.counts.length === prev.latency.counts.length) {
      var delta = cur.latency.counts.map(function (n, i) { return n - prev.latency.counts[i]; });
      if (delta.every(function (d) { return d >= 0; })) {
        p50 = quantile(0.5, cur.latency.bounds, delta);
        p99 = quantile(0.99, cur.latency.bounds, delta);
      }
    }
    values["latency:p50"] = p50 === null ? null : p50 * 1000;
    values["latency:p99"] = p99 === null ? null : p99 * 1000;
    info.latency.push({ key: "latency:p50", label: "p50", color: "#2a6fdb" });
    info.latency.push({ key: "latency:p99", label: "p99", color: "#c62828" });
    ["full", "resumed", "failed"].forEach(function (k, i) {
      var now = cur.tls ? cur.tls[k] : null, was = prev && prev.tls ? prev.tls[k] : null;
      values["tls:" + k] = rate(now, was, dt);
      info.tls.push({ key: "tls:" + k, label: k, color: ["#2a6fdb", "#2b9d5b", "#c62828"][i] });
    });
    cur.databases.forEach(function (db, i) {
      if (db.role !== "replica") return;
      var key = "lag:" + db.host;
      values[key] = db.up ? db.lag_seconds : null;
      info.lag.push({ key: key, label: db.host, color: PALETTE[i % PALETTE.length] });
    });
    var n = 0;
    cur.hosts.forEach(function (h) {
      h.daemons.forEach(function (d) {
        if (d.self || d.name === "mariadb") return;
        var key = "daemon:" + h.name + "/" + d.name;
        var p = null;
        if (prev) {
          var ph = before(prev.hosts, h.name);
          if (ph) p = before(ph.daemons, d.name);
        }
        values[key] = p ? rate(d.requests, p.requests, dt) : null;
        info.daemons.push({ key: key, label: h.name + " " + d.name.replace("tristack-", ""),
                            color: PALETTE[n++ % PALETTE.length] });
      });
    });
    seriesInfo = info;
    history.push({ t: cur.time_ms / 1000, values: values });
    while (history.length && history[0].t < cur.time_ms / 1000 - WINDOW_S) history.shift();
    return values;
  }

  /* ---- charts ---- */

  /* The top of a chart: four steps of 1, 2 or 5 times a power of ten. */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var step = v / 4, p = Math.pow(10, Math.floor(Math.log10(step)));
    var mult = [1, 2, 5, 10];
    for (var i = 0; i < mult.length; i++) if (mult[i] * p >= step) return 4 * mult[i] * p;
    return 40 * p;
  }

  function tick(v) {
    if (v === 0) return "0";
    if (Math.abs(v) >= 1000) return (v / 1000).toFixed(v % 1000 ? 1 : 0) + "k";
    return String(Math.round(v * 1000) / 1000);
  }

  function drawChart(id, series, unit) {
    var canvas = $("chart-" + id);
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 48, right = 8, top = 8, bottom = 20;
    var pw = w - left - right, ph = h - top - bottom;
    var now = history.length ? history[history.length - 1].t : 0;
    var max = 0;
    history.forEach(function (s) {
      series.forEach(function (se) {
        var v = s.values[se.key];
        if (v !== null && v !== undefined && isFinite(v)) max = Math.max(max, v);
      });
    });
    max = niceMax(max);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#69707d";
    g.strokeStyle = "#e6e9ee";
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (var i = 0; i <= 4; i++) {
      var y = top + ph - ph * i / 4;
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(left + pw, Math.round(y) + 0.5);
      g.stroke();
      var label = max * i / 4;
      g.fillText(tick(label) + (unit || ""), left - 6, y);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    [120, 90, 60, 30, 0].forEach(function (ago) {
      var x = left + pw * (1 - ago / WINDOW_S);
      g.fillText(ago ? "-" + ago + "s" : "now", Math.min(Math.max(x, left + 12), left + pw - 12),
                 top + ph + 5);
    });
    var xOf = function (t) { return left + pw * (1 - (now - t) / WINDOW_S); };
    var yOf = function (v) { return top + ph - ph * Math.min(v, max) / max; };
    series.forEach(function (se) {
      g.strokeStyle = se.color;
      g.lineWidth = 2;
      g.lineJoin = "round";
      g.beginPath();
      var pen = false;
      history.forEach(function (s) {
        var v = s.values[se.key];
        if (v === null || v === undefined || !isFinite(v)) {
          pen = false;
          return;
        }
        if (pen) g.lineTo(xOf(s.t), yOf(v));
        else g.moveTo(xOf(s.t), yOf(v));
        pen = true;
      });
      g.stroke();
    });
  }

  function drawLegend(id, series, values, unit, digits) {
    var box = $("legend-" + id);
    box.textContent = "";
    if (!series.length) {
      box.appendChild(el("span", null, id === "lag" ? "no replica in the stack" : "nothing yet"));
      return;
    }
    series.forEach(function (se) {
      var item = el("span", { "data-series": se.key });
      var sw = el("i");
      sw.style.background = se.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(se.label));
      item.appendChild(el("b", null, fmt(values[se.key], digits) + (unit || "")));
      box.appendChild(item);
    });
  }

  function drawAll(values) {
    var charts = [["backends", "", 1], ["status", "", 1], ["latency", " ms", 1], ["tls", "", 1],
                  ["lag", " s", 3], ["daemons", "", 1]];
    charts.forEach(function (c) {
      var series = seriesInfo[c[0]] || [];
      drawChart(c[0], series, "");
      drawLegend(c[0], series, values, c[1], c[2]);
    });
  }

  /* ---- tables ---- */

  function badge(host, d) {
    var up = d.up === true ? "true" : d.up === false ? "false" : "unknown";
    var label = d.name === "mariadb" ? "mariadb " + d.role : d.name;
    var title = d.up === true ? label + " is up"
              : d.up === false ? label + " is down: " + (d.error || "unknown")
              : label + ": state unknown (" + (d.error || "not seen yet") + ")";
    if (d.address) title += " (" + d.address + ")";
    if (d.lag_seconds !== undefined && d.lag_seconds !== null)
      title += "; lag " + d.lag_seconds + " s";
    var b = el("span", { "class": "badge", "data-host": host, "data-daemon": d.name,
                         "data-up": up, "title": title }, label);
    if (d.up === false) b.appendChild(el("span", { "class": "why" }, "down"));
    return b;
  }

  function renderHosts(cur) {
    var body = $("hosts").tBodies[0];
    body.textContent = "";
    cur.hosts.forEach(function (h) {
      var up = h.daemons.every(function (d) { return d.up !== false; });
      var tr = el("tr", { "data-host": h.name, "data-state": up ? "UP" : "DOWN" });
      tr.appendChild(el("td", null, h.name));
      tr.appendChild(el("td", null, h.address));
      tr.appendChild(el("td", { "class": "roles" }, h.roles.join(", ")));
      var td = el("td");
      h.daemons.forEach(function (d) { td.appendChild(badge(h.name, d)); });
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function renderBackends(cur, values) {
    var body = $("backends").tBodies[0];
    body.textContent = "";
    cur.servers.forEach(function (s) {
      var tr = el("tr", { "data-backend": s.name, "data-state": s.state,
                          "data-admin": s.admin || "READY" });
      tr.appendChild(el("td", null, s.name + (s.backup ? " (backup)" : "")));
      tr.appendChild(el("td", null, s.address));
      var st = el("td");
      st.appendChild(el("span", { "class": "state " + s.state }, s.state));
      /* drained or in maintenance by the runtime API (tristack drain HOST) */
      if (s.admin && s.admin !== "READY")
        st.appendChild(el("span", { "class": "state " + s.admin }, s.admin));
      tr.appendChild(st);
      tr.appendChild(el("td", { "class": "num" }, s.weight));
      tr.appendChild(el("td", { "class": "num" }, s.active));
      tr.appendChild(el("td", { "class": "num" }, fmt(values["backend:" + s.name], 1)));
      tr.appendChild(el("td", { "class": "num" }, s.requests));
      tr.appendChild(el("td", { "class": "num" }, s.errors));
      tr.appendChild(el("td", { "class": "num" }, s.responses["5xx"]));
      var chk = "–";
      if (s.check && s.check.last_code) {
        var code = s.check.last_code;
        chk = (code > 0 ? "HTTP " + code : ERRNO[-code] || "error " + -code) + ", " +
              s.check.last_ms.toFixed(1) + " ms";
      }
      tr.appendChild(el("td", null, chk));
      body.appendChild(tr);
    });
  }

  function setStatus(state, text) {
    var s = $("status");
    s.setAttribute("data-state", state);
    s.textContent = text;
  }

  function render(cur) {
    var values = sample(cur);
    $("site").textContent = cur.site;
    $("lb-name").textContent = cur.lb;
    $("lb-uptime").textContent = duration(cur.uptime_seconds);
    $("lb-connections").textContent = cur.connections;
    renderHosts(cur);
    renderBackends(cur, values);
    drawAll(values);
    var down = cur.servers.filter(function (s) { return s.state !== "UP"; }).length;
    setStatus("ok", "live · " + (cur.servers.length - down) + "/" + cur.servers.length +
              " backends up · " + new Date(cur.time_ms).toLocaleTimeString("en-GB"));
    document.body.setAttribute("data-updated", String(cur.time_ms));
    prev = cur;
  }

  /* ---- the poll loop: a failed fetch says so and tries again ---- */

  function poll() {
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, TIMEOUT_MS) : null;
    fetch("/dashboard.json", { cache: "no-store", signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(render)
      .catch(function (e) {
        setStatus("unreachable", "LB unreachable (" + (e && e.message ? e.message : e) +
                  "), retrying…");
      })
      .then(function () {
        if (timer) clearTimeout(timer);
        setTimeout(poll, POLL_MS);
      });
  }

  window.addEventListener("resize", function () { drawAll(prev ? history.length ?
    history[history.length - 1].values : {} : {}); });
  poll();
})();

// One rollout, live: the server sends the whole view on every transition (server-sent events).
"use strict";
(function () {
  const root = document.getElementById("rollout");
  const ns = root.dataset.namespace, name = root.dataset.name;
  const base = "/api/rollouts/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name);
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const notice = document.getElementById("notice");

  function text(id, value) { document.getElementById(id).textContent = value; }

  function rows(tableId, items, columns) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren();
    for (const item of items) {
      const tr = document.createElement("tr");
      for (const col of columns) {
        const td = document.createElement("td");
        td.textContent = col(item);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function when(t) {
    if (typeof t === "number") return new Date(t * 1000).toLocaleTimeString();
    return t ? new Date(t).toLocaleTimeString() : "";
  }

  function chart(points) {
    const svg = document.getElementById("chart");
    svg.replaceChildren();
    if (points.length === 0) return;
    const ns = "http://www.w3.org/2000/svg";
    const t0 = points[0].time, t1 = points[points.length - 1].time;
    const span = Math.max(t1 - t0, 1);
    let d = "";
    points.forEach((p, i) => {
      const x = 10 + 380 * (p.time - t0) / span, y = 110 - p.weight;
      d += (i ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    });
    const axis = document.createElementNS(ns, "path");
    axis.setAttribute("d", "M10 10 L10 110 L390 110");
    axis.setAttribute("class", "axis");
    const line = document.createElementNS(ns, "path");
    line.setAttribute("d", d);
    line.setAttribute("class", "line");
    svg.append(axis, line);
  }

  // One metric's measurements against its thresholds (dashed lines), failed ones marked.
  function plot(metric) {
    const svgNs = "http://www.w3.org/2000/svg";
    const figure = document.createElement("figure");
    figure.className = "metric";
    const caption = document.createElement("figcaption");
    caption.textContent = metric.name + " (" + metric.phase + ")";
    const svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 300 80");
    svg.setAttribute("role", "img");
    const values = metric.measurements.map((m) => m.number).filter((v) => v !== null);
    const lines = metric.thresholds.map((t) => t.value);
    const all = values.concat(lines);
    if (all.length) {
      let lo = Math.min(...all), hi = Math.max(...all);
      if (hi === lo) { hi += 1; lo -= 1; }
      const y = (v) => 70 - 60 * (v - lo) / (hi - lo);
      for (const t of metric.thresholds) {
        const line = document.createElementNS(svgNs, "line");
        line.setAttribute("x1", "5"); line.setAttribute("x2", "295");
        line.setAttribute("y1", y(t.value).toFixed(1)); line.setAttribute("y2", y(t.value).toFixed(1));
        line.setAttribute("class", "threshold " + t.side);
        const title = document.createElementNS(svgNs, "title");
        title.textContent = t.side + " " + t.value;
        line.appendChild(title);
        svg.appendChild(line);
      }
      const n = metric.measurements.length;
      metric.measurements.forEach((m, i) => {
        if (m.number === null) return;
        const dot = document.createElementNS(svgNs, "circle");
        dot.setAttribute("cx", (10 + 280 * (n > 1 ? i / (n - 1) : 0.5)).toFixed(1));
        dot.setAttribute("cy", y(m.number).toFixed(1));
        dot.setAttribute("r", "3");
        dot.setAttribute("class", "measurement " + String(m.phase || "").toLowerCase());
        const title = document.createElementNS(svgNs, "title");
        title.textContent = String(m.value) + " (" + m.phase + ")";
        dot.appendChild(title);
        svg.appendChild(dot);
      });
    }
    figure.append(caption, svg);
    return figure;
  }

  function render(r) {
    text("phase", r.phase);
    document.getElementById("phase").dataset.phase = r.phase;
    text("message", r.message);
    text("weight", r.weight + "%");
    text("step", r.step || "–");
    text("stable", r.stable);
    text("canary", r.canary || "–");
    document.getElementById("bluegreen").hidden = r.strategy !== "blueGreen";
    text("active", r.active || "–");
    text("preview", r.preview || "–");
    const trace = document.getElementById("trace");
    trace.textContent = r.trace || "–";
    if (r.traceUrl) trace.href = r.traceUrl; else trace.removeAttribute("href");
    const steps = document.getElementById("steps");
    steps.replaceChildren();
    for (const s of r.steps) {
      const li = document.createElement("li");
      li.textContent = s.text;
      if (s.current) li.className = "current";
      steps.appendChild(li);
    }
    chart(r.weights);
    const pods = document.getElementById("pods");
    pods.replaceChildren();
    for (const side of ["stable", "canary"]) {
      const p = document.createElement("p");
      const ready = r.pods[side].filter((x) => x.ready).length;
      p.textContent = side + ": " + ready + "/" + r.pods[side].length + " ready";
      pods.appendChild(p);
    }
    const analysis = document.getElementById("analysis");
    analysis.replaceChildren();
    for (const run of r.analysis) {
      const p = document.createElement("p");
      p.textContent = run.name + ": " + run.phase + (run.message ? " — " + run.message : "");
      analysis.appendChild(p);
      for (const m of run.metrics) analysis.appendChild(plot(m));
    }
    rows("history", r.history.slice().reverse(), [(h) => when(h.time), (h) => h.user, (h) => h.note]);
    rows("events", r.events, [(e) => when(e.time), (e) => e.type, (e) => e.reason, (e) => e.message]);
    for (const button of document.querySelectorAll("#actions button")) {
      const allowed = r.can[button.dataset.action];
      button.disabled = !allowed;
      button.title = allowed ? "" : "you may not act on rollouts in " + ns;
    }
  }

  async function act(button) {
    const body = { action: button.dataset.action };
    if (button.dataset.full) body.full = true;
    const answer = await fetch(base + "/commands", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const data = await answer.json();
    notice.hidden = false;
    notice.className = answer.ok ? "notice" : "notice error";
    notice.textContent = answer.ok ? body.action + " asked (" + data.command.id + ")" : data.error;
  }

  for (const button of document.querySelectorAll("#actions button")) {
    button.addEventListener("click", () => act(button));
  }
  const live = new EventSource(base + "/live");
  live.addEventListener("rollout", (e) => render(JSON.parse(e.data)));
  live.addEventListener("gone", () => { live.close(); text("message", "this rollout can no longer be shown"); });
})();

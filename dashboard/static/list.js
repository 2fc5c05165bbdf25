// The list of rollouts: fetched page by page from /api/rollouts, filtered by namespace and phase.
"use strict";
(function () {
  const size = 50;
  let page = 1;
  const body = document.querySelector("#rollouts tbody");
  const error = document.getElementById("error");

  function cell(row, text, href) {
    const td = document.createElement("td");
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
  }

  async function load() {
    const params = new URLSearchParams({ page: String(page), size: String(size) });
    const ns = document.getElementById("namespace").value.trim();
    const phase = document.getElementById("phase").value;
    if (ns) params.set("namespace", ns);
    if (phase) params.set("phase", phase);
    const answer = await fetch("/api/rollouts?" + params, { credentials: "same-origin" });
    const data = await answer.json();
    error.hidden = answer.ok;
    if (!answer.ok) {
      error.textContent = data.error || answer.statusText;
      body.replaceChildren();
      return;
    }
    body.replaceChildren();
    for (const r of data.items) {
      const row = document.createElement("tr");
      row.dataset.phase = r.phase;
      cell(row, r.namespace);
      cell(row, r.name, "/rollouts/" + encodeURIComponent(r.namespace) + "/" + encodeURIComponent(r.name));
      cell(row, r.phase);
      cell(row, r.strategy);
      cell(row, r.step);
      cell(row, r.weight + "%");
      cell(row, r.stable);
      cell(row, r.canary);
      cell(row, r.age);
      body.appendChild(row);
    }
    const pages = Math.max(1, Math.ceil(data.total / size));
    document.getElementById("page-info").textContent = `page ${page} of ${pages} · ${data.total} rollouts`;
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
  }

  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); page = 1; load(); });
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  load();
  setInterval(load, 5000);
})();

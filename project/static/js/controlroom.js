// The control room: polls the shared snapshot and redraws tables and inline SVG charts.
(function () {
  "use strict";
  var root = document.getElementById("controlroom");
  if (!root) return;
  var dataUrl = root.dataset.dataUrl, confirmUrl = root.dataset.confirmUrl;
  var period = Math.max(1, parseFloat(root.dataset.refreshSeconds || "2")) * 1000;

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function row(cells, attrs) {
    var tr = el("tr", null, attrs);
    cells.forEach(function (c) { var td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "–" : c; tr.appendChild(td); });
    return tr;
  }
  function actionLink(name, label, target) {
    var href = confirmUrl + "?action=" + encodeURIComponent(name) + "&targets=" + encodeURIComponent(target);
    return el("a", label, { href: href, class: "button", "data-testid": "action-" + name + "-" + target });
  }
  function fill(id, nodes) { var t = document.getElementById(id); t.replaceChildren.apply(t, nodes); }

  function chart(fig, points, key) {
    var values = points.map(function (p) { return p[key]; }).filter(function (v) { return v !== null && v !== undefined; });
    var svg = fig.querySelector("svg");
    fig.querySelector("b").textContent = values.length ? values[values.length - 1] : "–";
    var max = Math.max.apply(null, values.concat([1]));
    var d = values.map(function (v, i) {
      var x = values.length > 1 ? (i * 300) / (values.length - 1) : 0;
      return (i ? "L" : "M") + x.toFixed(1) + " " + (58 - (v / max) * 56).toFixed(1);
    }).join(" ");
    svg.replaceChildren();
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d || "M0 58");
    path.setAttribute("data-points", String(values.length));
    svg.appendChild(path);
  }

  function render(s) {
    var pill = root.querySelector("[data-testid=overall]");
    pill.textContent = s.health.ok ? "all stores up" : "a store is down";
    pill.className = "cr-pill " + (s.health.ok ? "ok" : "bad");
    root.querySelector("[data-testid=built]").textContent = "built " + new Date(s.built_at * 1000).toLocaleTimeString() + " in " + s.build_ms + " ms";
    root.querySelectorAll("[data-chart]").forEach(function (fig) { chart(fig, s.series || [], fig.dataset.chart); });
    fill("cr-panels", s.panels.map(function (p) {
      var sec = el("section", null, { class: "module", "data-testid": "panel-" + p.name });
      sec.appendChild(el("h2", p.title + (p.error ? " (error: " + p.error + ")" : "")));
      var table = el("table", null, { class: "cr-table" });
      table.appendChild(row(["id", "title", "state", p.left_label, "accepted", "persisted", "behind", "queued", "in flight", "drain lag s", ""].map(function (h) { return el("b", h); })));
      p.rows.forEach(function (r) {
        var acts = el("span");
        p.actions.forEach(function (a) { acts.appendChild(actionLink(a.name, a.label, r.id)); });
        var tr = row([r.id, r.title, r.state, r.left, r.accepted, r.persisted, r.accepted === null || r.persisted === null ? null : r.accepted - r.persisted, r.queue_depth, r.in_flight, r.drain_lag_seconds, acts], { "data-testid": p.name + "-row-" + r.id });
        ["id", "title", "state", "left", "accepted", "persisted", "behind", "queue_depth", "in_flight", "drain_lag"].forEach(function (f, i) { tr.children[i].setAttribute("data-field", f); });
        table.appendChild(tr);
      });
      if (!p.rows.length) table.appendChild(row(["nothing open"]));
      sec.appendChild(table);
      return sec;
    }));
    fill("cr-stores", s.health.stores.map(function (st) {
      return row([st.name, st.ok ? "up" : "DOWN", st.role, st.where, st.lag_seconds !== undefined ? st.lag_seconds + " s" : (st.replica_lag_bytes !== undefined ? st.replica_lag_bytes + " B" : null), st.error || st.memory || ""], { "data-testid": "store-" + st.name, class: st.ok ? "" : "cr-bad" });
    }));
    var q = s.health.queues || {};
    document.getElementById("cr-last-drain").textContent = q.last_drain_seconds_ago === null || q.last_drain_seconds_ago === undefined ? "" : "last drain " + q.last_drain_seconds_ago + " s ago";
    fill("cr-queues", (q.families || []).map(function (f) { return row([f.family, f.queues, f.depth, f.in_flight, f.dead_letters, f.dead_consumers], { "data-testid": "queue-" + f.family }); }));
    var al = s.alerts || {};
    fill("cr-alerts", !al.configured ? [el("li", "Alertmanager not configured (ALERTMANAGER_URL)")] : al.error ? [el("li", "Alertmanager: " + al.error)] :
      al.firing.length ? al.firing.map(function (a) { return el("li", a.name + (a.severity ? " [" + a.severity + "]" : "") + ": " + a.summary, { "data-testid": "alert" }); }) : [el("li", "none firing")]);
    fill("cr-dead", s.dead_letters.length ? s.dead_letters.map(function (d) {
      var li = el("li", d.queue + ": " + d.count + " ", { "data-testid": "dead-" + d.queue });
      li.appendChild(actionLink("queue.replay_dead", "Replay…", d.queue));
      li.appendChild(actionLink("queue.discard_dead", "Discard…", d.queue));
      return li;
    }) : [el("li", "none")]);
    fill("cr-errors", s.errors.length ? s.errors.map(function (e) { return el("li", new Date(e.at * 1000).toLocaleTimeString() + " " + e.logger + ": " + e.message); }) : [el("li", "none")]);
  }

  function tick() {
    fetch(dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(render)
      .catch(function (e) { root.querySelector("[data-testid=overall]").textContent = "no data: " + e.message; })
      .finally(function () { setTimeout(tick, period); });
  }
  tick();
})();

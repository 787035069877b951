// Campaign page: countdown, Grab button, live remaining count and balance (polled).
(function () {
  var root = document.querySelector('.rp-page[data-testid="campaign"]');
  if (!root) return;
  var starts = Date.parse(root.dataset.starts), ends = Date.parse(root.dataset.ends);
  var countdown = root.querySelector('[data-testid="countdown"]');
  var button = root.querySelector('[data-testid="grab"]');
  var result = root.querySelector('[data-testid="grab-result"]');
  var state = root.dataset.state;

  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d ? d + "d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
  }
  function tick() {
    var now = Date.now();
    if (state === "closed" || state === "ended") countdown.textContent = "This packet has ended";
    else if (now < starts) countdown.textContent = "Opens in " + span(starts - now);
    else if (now < ends) countdown.textContent = state === "sold_out" ? "All shares grabbed" : "Open · ends in " + span(ends - now);
    else countdown.textContent = "This packet has ended";
  }
  tick();
  setInterval(tick, 1000);

  function show(text, cls) {
    result.className = "rp-result " + (cls || "");
    result.innerHTML = text;
  }
  function setText(testid, text) {
    var el = root.querySelector('[data-testid="' + testid + '"]');
    if (el) el.textContent = text;
  }
  async function refresh() {
    var res = await Surge.api("GET", root.dataset.api);
    if (!res.ok || !res.data) return;
    var d = res.data;
    state = d.state;
    if (d.remaining_count !== null && d.remaining_count !== undefined) setText("remaining", d.remaining_count);
    if (d.remaining_cents !== null && d.remaining_cents !== undefined) setText("remaining-amount", Surge.money(d.remaining_cents));
    if (d.balance_cents !== null && d.balance_cents !== undefined) setText("balance", Surge.money(d.balance_cents));
  }
  setInterval(refresh, 2000);

  if (!button) return;
  button.addEventListener("click", async function () {
    button.disabled = true;
    var res;
    try {
      res = await Surge.api("POST", root.dataset.grab);
    } catch (e) {
      show("Network problem — try again.", "rp-miss");
      button.disabled = false;
      return;
    }
    var d = res.data || {};
    if (res.status === 200) {
      show("You got <strong data-testid=\"grab-amount\">" + Surge.money(d.amount_cents) + "</strong>! It lands in your wallet in a moment.", "rp-win");
      button.textContent = "Grabbed";
    } else if (res.status === 409) {
      show("You already grabbed <strong data-testid=\"grab-amount\">" + Surge.money(d.amount_cents) + "</strong> from this packet.", "rp-win");
      button.textContent = "Grabbed";
    } else {
      show(Surge.el("span", {}, d.detail || "Something went wrong.").outerHTML, "rp-miss");
      if (res.status === 425 || res.status === 429 || res.status === 503) button.disabled = false;
    }
    refresh();
  });
})();

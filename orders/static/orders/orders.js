// Product page: Buy (normal or flash), flash countdown, and polling a flash order's token.
(function () {
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function show(box, text, ok) {
    box.textContent = text;
    box.className = "buy-result " + (ok ? "ok" : "bad");
  }

  async function pollToken(token, onDone) {
    for (var i = 0; i < 120; i++) {
      var res = await Surge.api("GET", "/api/flash/orders/" + encodeURIComponent(token) + "/");
      if (res.ok && res.data.status !== "pending") return onDone(res.data);
      await new Promise(function (r) { setTimeout(r, Math.min(500 + i * 100, 2000)); });
    }
    onDone({ status: "pending" });
  }

  function setupCountdown(root, button) {
    var starts = Date.parse(root.dataset.starts), ends = Date.parse(root.dataset.ends);
    var el = root.querySelector("[data-testid=countdown]");
    if (!el || isNaN(starts)) return;
    function fmt(ms) {
      var s = Math.max(0, Math.floor(ms / 1000));
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      return (h ? h + "h " : "") + String(m).padStart(2, "0") + "m " + String(sec).padStart(2, "0") + "s";
    }
    function tick() {
      var now = Date.now();
      if (now < starts) {
        el.textContent = "Starts in " + fmt(starts - now);
        if (button) button.disabled = true;
      } else if (now < ends) {
        el.textContent = "Live! Ends in " + fmt(ends - now);
        if (button && !button.dataset.done) button.disabled = false;
      } else {
        el.textContent = "This sale has ended.";
        if (button) button.disabled = true;
        return;
      }
      setTimeout(tick, 250);
    }
    tick();
  }

  var product = document.querySelector("[data-testid=product]");
  if (product) {
    var form = product.querySelector("[data-testid=buy-form]");
    var button = product.querySelector("[data-testid=buy]");
    var result = product.querySelector("[data-testid=buy-result]");
    var id = product.dataset.productId;
    var flash = product.dataset.flash === "1";
    var key = newKey();  // one key per page view: a double click buys once
    if (flash) setupCountdown(product, button);
    // The form is sent by script, never by the browser (no inline onsubmit: CSP).
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    if (button) form.addEventListener("submit", async function () {
      var qty = parseInt(form.querySelector("[name=quantity]").value, 10) || 1;
      button.disabled = true;
      show(result, flash ? "Joining the sale…" : "Placing your order…", true);
      if (flash) {
        var res = await Surge.api("POST", "/api/flash/" + id + "/buy/", { quantity: qty });
        if (res.status !== 202) { show(result, (res.data && res.data.detail) || "Something went wrong.", false); button.disabled = false; return; }
        show(result, "You got one! Writing your order…", true);
        pollToken(res.data.token, function (s) {
          button.dataset.done = "1";
          if (s.status === "created") { result.innerHTML = ""; show(result, "Order #" + s.order_id + " created. ", true); result.appendChild(Surge.el("a", { href: "/orders/", "data-testid": "see-orders" }, "See my orders")); }
          else if (s.status === "rejected") show(result, "Sorry, the units ran out.", false);
          else { show(result, "Still processing; check ", true); result.appendChild(Surge.el("a", { href: "/orders/status/" + res.data.token + "/" }, "the order status")); }
        });
      } else {
        var r = await Surge.api("POST", "/api/orders/", { product_id: Number(id), quantity: qty, idempotency_key: key });
        if (r.status === 201 || r.status === 200) {
          key = newKey();
          result.innerHTML = "";
          show(result, "Order #" + r.data.id + " placed. ", true);
          result.appendChild(Surge.el("a", { href: "/orders/", "data-testid": "see-orders" }, "See my orders"));
        } else {
          var d = r.data || {};
          show(result, d.detail || Object.values(d).flat().join(" ") || "Something went wrong.", false);
        }
        button.disabled = false;
      }
    });
  }

  var status = document.querySelector("[data-testid=order-status]");
  if (status && status.dataset.status === "pending") {
    pollToken(status.dataset.token, function () { window.location.reload(); });
  }

  // Product data: the pre-rendered CDN file first (no app server touched), the API when the CDN
  // misses or holds a copy older than this page's product.
  var card = document.querySelector("[data-testid=product]");
  if (card && window.SurgeCDN) {
    var pid = card.dataset.productId;
    SurgeCDN.load((card.dataset.cdn || "/cdn/") + "products/" + pid + ".json", "/api/products/" + pid + "/",
                  { minGeneratedAt: card.dataset.updated })
      .then(function (r) {
        card.dataset.source = r.source;
        var stock = card.querySelector("[data-testid=stock]");
        if (stock) stock.textContent = r.data.in_stock ? r.data.stock + " in stock" : "Sold out";
        var price = card.querySelector("[data-testid=price]");
        if (price) { price.dataset.cents = r.data.price_cents; price.textContent = Surge.money(r.data.price_cents); }
      })
      .catch(function () { card.dataset.source = "server"; });
  }
})();

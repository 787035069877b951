// The home page's data: the CDN's pre-rendered home.json first, the API when the file is
// missing, broken or older than what the server already rendered into the page.
(function () {
  var root = document.getElementById("home-data");
  if (!root || !window.Surge || !window.SurgeCDN) return;
  var el = Surge.el;
  var pageVersion = Number(root.dataset.version || 0);
  // Broken product images in the server-rendered page hide themselves (no inline onerror: CSP).
  document.querySelectorAll("img[data-hide-on-error]").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0) img.style.visibility = "hidden";
    img.addEventListener("error", function () { img.style.visibility = "hidden"; });
  });

  function announcement(a) {
    var card = el("article", { "class": "card announcement", "data-testid": "announcement" });
    card.appendChild(el("h2", {}, a.title));
    if (a.body) card.appendChild(el("p", {}, a.body));
    return card;
  }

  function product(p) {
    var card = el("a", { "class": "card product-card", href: "/products/" + p.id + "/", "data-testid": "hot-product" });
    if (p.image_url) {
      var img = el("img", { src: p.image_url, alt: "", loading: "lazy" });
      img.addEventListener("error", function () { img.style.visibility = "hidden"; });
      card.appendChild(img);
    }
    card.appendChild(el("h3", {}, p.name));
    var meta = el("div", { "class": "product-meta" });
    meta.appendChild(el("span", { "class": "price" }, Surge.money(p.price_cents)));
    if (p.is_flash) meta.appendChild(el("span", { "class": "pill pill-warn" }, "flash sale"));
    else if (!p.in_stock) meta.appendChild(el("span", { "class": "pill pill-bad" }, "sold out"));
    card.appendChild(meta);
    return card;
  }

  function render(doc, source) {
    var ann = root.querySelector("[data-testid=announcements]");
    var grid = root.querySelector("[data-testid=hot-products]");
    ann.replaceChildren.apply(ann, (doc.announcements || []).map(announcement));
    var items = (doc.products || []).map(product);
    if (!items.length) items = [el("p", { "class": "muted", "data-testid": "no-products" }, "No products yet.")];
    grid.replaceChildren.apply(grid, items);
    var stamp = root.querySelector("[data-testid=home-generated]");
    stamp.setAttribute("datetime", doc.generated_at || "");
    // "2026-11-25T18:05:31+08:00" -> "2026-11-25 18:05" (already in the site's zone), as the server writes it
    stamp.textContent = (doc.generated_at || "").slice(0, 16).replace("T", " ");
    root.dataset.version = doc.version;
    root.dataset.source = source;
  }

  function usable(doc) {
    return doc && typeof doc.version === "number" && Array.isArray(doc.products) && doc.version >= pageVersion;
  }

  // SurgeCDN (staticgen/cdn.js): the CDN file with a short timeout, the API when it misses or
  // is older than the version the server rendered into the page.
  SurgeCDN.load((root.dataset.cdn || "/cdn/") + "home.json", "/api/home/", { minVersion: pageVersion, timeoutMs: 1500 })
    .then(function (r) { if (usable(r.data)) render(r.data, r.source); })
    .catch(function () { /* keep what the server rendered */ });
})();

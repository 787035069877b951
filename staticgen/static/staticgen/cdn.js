/* SurgeCDN.load(cdnPath, apiPath, options): the pre-rendered JSON from the CDN first, the API
 * (cache, then database) when the CDN misses, is slow, or is older than the page needs.
 *
 *   SurgeCDN.load("/cdn/home.json", "/api/home/", {minVersion: 1732500000000, maxAgeSeconds: 300})
 *     .then(function (r) { render(r.data); console.log(r.source); });  // source: "cdn" | "api"
 *
 * options:
 *   timeoutMs      abort the CDN fetch after this long (default 1500)
 *   minVersion     the document's `version` must be >= this (e.g. rendered into the page)
 *   minGeneratedAt an ISO time or epoch ms: `generated_at` (or `updated_at`) must not be older
 *   maxAgeSeconds  `generated_at` (or `updated_at`) must be younger than this
 * Resolves {data, source, reason}; rejects only when the API fails too.
 */
(function () {
  "use strict";

  function withTimeout(url, ms) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, ms) : null;
    return fetch(url, { signal: ctrl ? ctrl.signal : undefined, credentials: "omit", cache: "no-cache" })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  function toMs(value) {
    if (value === undefined || value === null || value === "") return null;
    if (typeof value === "number") return value;
    var t = Date.parse(value);
    return isNaN(t) ? null : t;
  }

  // Why a CDN document is not good enough, or "" when it is.
  function staleReason(doc, opts) {
    if (!doc || typeof doc !== "object") return "not a JSON object";
    if (opts.minVersion !== undefined && opts.minVersion !== null) {
      if (typeof doc.version !== "number" || doc.version < Number(opts.minVersion)) return "older version";
    }
    var stamp = toMs(doc.generated_at !== undefined ? doc.generated_at : doc.updated_at);
    var min = toMs(opts.minGeneratedAt);
    if (min !== null && (stamp === null || stamp < min)) return "generated too early";
    if (opts.maxAgeSeconds && (stamp === null || Date.now() - stamp > opts.maxAgeSeconds * 1000)) return "too old";
    return "";
  }

  function fromApi(apiPath, reason) {
    return fetch(apiPath, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("API " + apiPath + " answered " + res.status);
        return res.json();
      })
      .then(function (data) { return { data: data, source: "api", reason: reason }; });
  }

  function load(cdnPath, apiPath, options) {
    var opts = options || {};
    return withTimeout(cdnPath, opts.timeoutMs || 1500)
      .then(function (res) {
        if (!res.ok) throw new Error("CDN answered " + res.status);
        return res.json();
      })
      .then(function (doc) {
        var why = staleReason(doc, opts);
        if (why) return fromApi(apiPath, "cdn " + why);
        return { data: doc, source: "cdn", reason: "" };
      }, function (err) {
        return fromApi(apiPath, "cdn miss: " + (err && err.name === "AbortError" ? "timeout" : err.message));
      });
  }

  window.SurgeCDN = { load: load, staleReason: staleReason };
})();

"""The home document (hot products + announcements): L1 (process) + L2 (Redis) against L2 only
and no cache, plus the pre-rendered `home.json` from the CDN folder served by a static server
(nginx when installed, else a small Python file server; the table's note says which)."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.scenarios import Goal, Scenario, SkipVariant, Variant, cached_read_goals


class Home(Scenario):
    name = "home"
    title = "home page document"
    needs_cdn = True

    def variants(self, ctx) -> list[Variant]:
        return [
            Variant("l1+l2", "surge", {"targets": ["/api/home/"]}, ["/api/home/"], note="process L1 + Redis L2"),
            Variant("l2only", "baseline", {"targets": ["/api/bench/home/l2only/"]}, ["/api/bench/home/l2only/"],
                    note="Redis only"),
            Variant("nocache", "baseline", {"targets": ["/api/bench/home/nocache/"]}, ["/api/bench/home/nocache/"],
                    note="DB every time"),
            Variant("cdn-file", "surge", {"targets": ["/cdn/home.json"]}, ["/api/home/"],
                    note="pre-rendered file, static server"),
        ]  # fmt: skip

    def before(self, ctx, variant) -> None:
        if variant.name != "cdn-file":
            return
        if not ctx.cdn_url:
            raise SkipVariant("no CDN server")
        how = publish_home(ctx)
        variant.spec["host"] = ctx.cdn_url
        variant.note = f"{ctx.stack.cdn_server}; {how}"
        status, body = ctx.http("GET", "/cdn/home.json", base=ctx.cdn_url)
        if status != 200:
            raise SkipVariant(f"the CDN server answered {status} for /cdn/home.json")

    def goals(self, ctx, results) -> list[Goal]:
        goals = cached_read_goals(self.name, results.get("l1+l2"), results.get("nocache"), "L1+L2 vs no cache")
        l1, l2 = results.get("l1+l2"), results.get("l2only")
        if l1 and l2 and l1.get("rps") and l2.get("rps") and l1.get("redis_per_req") is not None:
            goals.append(
                Goal(self.name, "L1 hits make (almost) no Redis calls", "< 0.05 Redis/req",
                     f"{l1['redis_per_req']:.3f}", l1["redis_per_req"] < 0.05)
            )  # fmt: skip
        return goals


def publish_home(ctx) -> str:
    """Publish home.json the way the site does (staticgen's service), else write the API's
    answer there ourselves. Returns how it was done."""
    from django.conf import settings

    target = Path(settings.CDN_ROOT) / "home.json"
    try:
        from staticgen import services as sg
    except ImportError:
        sg = None
    if sg is not None and hasattr(sg, "publish"):
        result = sg.publish(targets=["home.json"], force=True)
        if target.exists():
            target.chmod(0o644)
            return "published by staticgen (`publish(targets=['home.json'])`)"
        failed = getattr(result, "failed", None)
        if failed:
            raise SkipVariant(f"staticgen could not publish home.json: {failed}")
    status, body = ctx.http("GET", "/api/home/")
    if status != 200:
        raise SkipVariant(f"/api/home/ answered {status}; nothing to publish")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(body, separators=(",", ":")))
    target.chmod(0o644)
    return "written by the harness from /api/home/ (no staticgen publish service found)"

"""The midnight rush: every user signs in once (a DB transaction, a points reward), then keeps
re-checking (Redis bit: zero SQL). Baseline: the same sign-in straight to the database every
time. The two variants use disjoint halves of the bench users, so each starts at midnight."""

from __future__ import annotations

from loadtest.scenarios import Goal, Scenario, Variant


class SignIn(Scenario):
    name = "signin"
    title = "daily sign-in, midnight rush"

    def _pools(self, ctx):
        half = len(ctx.users) // 2
        return ctx.users[:half], ctx.users[half:]

    def variants(self, ctx) -> list[Variant]:
        surge, naive = self._pools(ctx)
        common = {"method": "POST", "expect": [200]}
        return [
            Variant("surge", "surge", {**common, "targets": ["/api/signin/"], "tokens": [u["token"] for u in surge]},
                    ["/api/signin/"], note="Redis bit first, DB once per user and day"),
            Variant("naive", "baseline", {**common, "targets": ["/api/bench/signin/naive/"],
                                          "tokens": [u["token"] for u in naive]},
                    ["/api/bench/signin/naive/"], note="DB every time"),
        ]  # fmt: skip

    def after(self, ctx, variant, result) -> list[str]:
        from django.db.models import Count, Sum

        from signin.models import SignIn as SignInRow
        from usercenter.models import LedgerEntry, Wallet

        surge, naive = self._pools(ctx)
        pool = [u["id"] for u in (surge if variant.name == "surge" else naive)]
        broken = []
        rows = SignInRow.objects.using("default").filter(user_id__in=pool)
        dup = rows.values("user_id", "date").annotate(n=Count("id")).filter(n__gt=1).count()
        if dup:
            broken.append(f"{dup} users have more than one sign-in row for one day")
        n_rows = rows.count()
        hit_users = min(len(pool), sum(result.get("status_all", {}).values()))
        ok_answers = int(result.get("status_all", {}).get("200", 0))
        if ok_answers and n_rows > len(pool):
            broken.append(f"{n_rows} sign-in rows for {len(pool)} users")
        ledger = LedgerEntry.objects.using("default").filter(user_id__in=pool, kind="signin_reward")
        n_ledger = ledger.count()
        if n_ledger != n_rows:
            broken.append(f"{n_ledger} sign-in ledger entries for {n_rows} sign-in rows (one reward per sign-in)")
        ledger_points = ledger.aggregate(s=Sum("points"))["s"] or 0
        row_points = rows.aggregate(s=Sum("points_awarded"))["s"] or 0
        wallet_points = Wallet.objects.using("default").filter(user_id__in=pool).aggregate(s=Sum("points"))["s"] or 0
        if not (ledger_points == row_points == wallet_points):
            broken.append(f"points disagree: rows {row_points}, ledger {ledger_points}, wallets {wallet_points}")
        result["extra"].update({"sign-in rows": n_rows, "users hit (at most)": hit_users, "points awarded": row_points})
        return broken

    def goals(self, ctx, results) -> list[Goal]:
        s, n = results.get("surge"), results.get("naive")
        if not s or not n or s.get("skipped") or n.get("skipped"):
            return []
        ratio = s["rps"] / n["rps"] if n.get("rps") else None
        return [
            Goal(self.name, "sign-in rush faster than the DB-every-time baseline", "> 1x",
                 f"{ratio:.2f}x" if ratio else "-", bool(ratio and ratio > 1)),
        ]  # fmt: skip

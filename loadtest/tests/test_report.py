"""The harness's ratios: a variant is compared with the mean of the bare windows of the same run
(the start and the end for Locust), never with bare-auth; in the wrk cross-check's pairs each
grab window is compared with the bare window right before it, and the wrk goals read medians."""

from __future__ import annotations

from loadtest.bench import wrk_goals
from loadtest.report import add_paired_ratios, add_ratios


def _r(scenario, name, rps, role="surge"):
    return {"scenario": scenario, "name": name, "role": role, "rps": rps, "users": 64, "p99_ms": 100.0}


def test_the_grab_is_compared_with_the_mean_of_the_bare_windows_around_it():
    results = [
        _r("bare", "bare", 2000.0, role="bare"),
        _r("grab", "surge", 1300.0),
        _r("bare", "bare (end)", 1600.0, role="bare"),
        _r("bare", "bare-auth", 900.0, role="bare"),
        _r("grab", "naive", 200.0, role="naive") | {"p99_ms": 500.0},
    ]
    add_ratios(results)
    surge = results[1]
    assert round(surge["x_bare"], 3) == round(1300 / 1800, 3)  # not 1300 / 2000, nor with bare-auth
    assert round(surge["x_bare_auth"], 3) == round(1300 / 900, 3)
    goals = {g.text: g for g in wrk_goals(results)}
    # Retired as a goal (issue 23): shown for reference, not judged.
    bare_goal = goals["(wrk, for reference) grab vs bare Django view"]
    assert bare_goal.measured == "0.72x" and bare_goal.met is None
    assert goals["(wrk, for reference) grab vs select_for_update baseline, req/s"].met is None
    assert goals["(wrk) grab p99 vs baseline p99 at 64 connections"].met


def test_no_bare_window_no_bare_goal():
    results = [_r("grab", "surge", 1300.0), _r("grab", "naive", 200.0, role="naive")]
    add_ratios(results)
    assert "(wrk, for reference) grab vs bare Django view" not in {g.text for g in wrk_goals(results)}


def test_paired_windows_compare_each_grab_with_its_own_bare_window_and_the_goal_takes_the_median():
    # The box drifts: the bare view does 2000, then 2600, then 1800 req/s.
    results = [
        _r("bare", "bare #1", 2000.0, role="bare"),
        _r("grab", "surge #1", 1200.0) | {"p99_ms": 90.0},
        _r("bare", "bare #2", 2600.0, role="bare"),
        _r("grab", "surge #2", 1820.0) | {"p99_ms": 70.0},
        _r("bare", "bare #3", 1800.0, role="bare"),
        _r("grab", "surge #3", 1206.0) | {"p99_ms": 80.0},
        _r("bare", "bare-auth", 2100.0, role="bare"),
        _r("grab", "naive", 200.0, role="naive") | {"p99_ms": 400.0},
    ]
    add_ratios(results)
    add_paired_ratios(results)
    by = {r["name"]: r for r in results}
    assert [round(by[f"surge #{i}"]["x_bare"], 2) for i in (1, 2, 3)] == [0.60, 0.70, 0.67]
    assert by["surge #2"]["paired_with"] == "bare #2"
    # The naive baseline keeps the mean of the bare windows (it has no pair).
    assert round(by["naive"]["x_bare"], 4) == round(200 / 2133.3333, 4)
    goals = {g.text: g for g in wrk_goals(results)}
    bare_goal = goals["(wrk, for reference) grab vs bare Django view"]
    assert bare_goal.measured == "0.67x (median of 0.60, 0.70, 0.67)" and bare_goal.met is None
    # Against the baseline: the median grab window (1206 req/s, p99 80 ms).
    assert goals["(wrk, for reference) grab vs select_for_update baseline, req/s"].measured == "6.03x"
    assert goals["(wrk) grab p99 vs baseline p99 at 64 connections"].measured == "80 / 400 ms = 0.20x"


def test_the_one_round_trip_view_is_a_yardstick_of_its_own_not_a_bare_window():
    # Locust order: bare, bare-auth, bare-redis, ..., bare (end).
    results = [
        _r("bare", "bare", 3000.0, role="bare"),
        _r("bare", "bare-auth", 2700.0, role="bare"),
        _r("bare", "bare-redis", 2100.0, role="bare"),
        _r("grab", "surge", 1680.0),
        _r("bare", "bare (end)", 3000.0, role="bare"),
    ]
    add_ratios(results)
    by = {r["name"]: r for r in results}
    assert round(by["surge"]["x_bare"], 2) == 0.56  # over 3000, not over a mean with 2100
    assert round(by["surge"]["x_floor"], 2) == 0.80
    assert round(by["bare-redis"]["x_bare"], 2) == 0.70


def test_wrk_rounds_compare_the_grab_with_the_bare_and_the_floor_window_of_its_round():
    results = []
    for i, (bare, floor, grab) in enumerate([(3000, 2100, 1700), (3400, 2400, 1900), (3300, 2300, 1850)], start=1):
        results += [
            _r("bare", f"bare #{i}", float(bare), role="bare"),
            _r("bare", f"bare-redis #{i}", float(floor), role="bare"),
            _r("grab", f"surge #{i}", float(grab)),
        ]
    results += [_r("bare", "bare-auth", 3000.0, role="bare"), _r("grab", "naive", 150.0, role="naive")]
    add_ratios(results)
    add_paired_ratios(results)
    by = {r["name"]: r for r in results}
    assert round(by["surge #2"]["x_bare"], 3) == round(1900 / 3400, 3)
    assert round(by["surge #2"]["x_floor"], 3) == round(1900 / 2400, 3)
    assert round(by["bare-redis #3"]["x_bare"], 3) == round(2300 / 3300, 3)
    assert by["surge #1"]["paired_with"] == "bare #1"
    goals = {g.text: g for g in wrk_goals(results)}
    assert goals["(wrk, for reference) grab vs bare Django view"].measured == "0.56x (median of 0.57, 0.56, 0.56)"
    assert goals["(wrk, for reference) grab vs bare Django view"].met is None
    floor = goals["(wrk, for reference) one-round-trip view (bare-redis) vs bare view"]
    assert floor.measured.startswith("0.70x") and floor.met is None
    assert goals["(wrk, for reference) grab vs the one-round-trip view"].measured.startswith("0.80x")


def test_goals_are_judged_on_server_cpu_per_request():
    from loadtest.scenarios import cpu_goals

    def r(web, stores, worker=0.0, **kw):
        return {"rps": 1000.0, "web_cpu_ms_per_req": web, "stores_cpu_ms_per_req": stores,
                "worker_cpu_ms_per_req": worker, **kw}  # fmt: skip

    surge = r(0.80, 0.10, 0.05, cpu_s={"worker": 0.5, "pg_primary": 0.3, "stores": 0.5, "redis": 0.2},
              drain={"rows_in_window": 8000})  # fmt: skip
    by = {
        "bare": {"bare-redis": r(0.75, 0.05)},
        "grab": {"surge": surge, "naive": r(3.8, 1.8)},
        "flash": {"surge": r(0.8, 0.1, 0.3), "naive": r(3.0, 1.0)},
        "me": {"cached": r(0.8, 0.04), "nocache": r(2.9, 0.5)},
    }
    goals = {g.text: g for g in cpu_goals(by)}
    floor = goals["server CPU per grab vs the one-round-trip view (bare-redis)"]
    assert floor.measured == "0.95 / 0.80 ms = 1.19x" and floor.met is False
    assert goals["server CPU per grab vs the select_for_update baseline"].met
    assert goals["server CPU per flash buy vs the locked baseline"].met is False  # 4.0 / 1.2 = 3.33x
    assert goals["server CPU per cached read (me) vs uncached"].met
    drain = goals["drain capacity per core (rows/s) vs the grabs/s one web core serves"]
    # (0.5 + 0.3) s over 8000 rows = 0.1 ms per row: 10,000 rows/s against 1,250 grabs/s.
    assert drain.measured.endswith("= 8.00x") and drain.met

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
    bare_goal = goals["(wrk) grab vs bare Django view"]
    assert bare_goal.measured == "0.72x" and bare_goal.met
    assert goals["(wrk) grab vs select_for_update baseline, req/s"].met
    assert goals["(wrk) grab p99 vs baseline p99 at 64 connections"].met


def test_no_bare_window_no_bare_goal():
    results = [_r("grab", "surge", 1300.0), _r("grab", "naive", 200.0, role="naive")]
    add_ratios(results)
    assert "(wrk) grab vs bare Django view" not in {g.text for g in wrk_goals(results)}


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
    bare_goal = goals["(wrk) grab vs bare Django view"]
    assert bare_goal.measured == "0.67x (median of 0.60, 0.70, 0.67)" and bare_goal.met
    # Against the baseline: the median grab window (1206 req/s, p99 80 ms).
    assert goals["(wrk) grab vs select_for_update baseline, req/s"].measured == "6.03x"
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
    assert goals["(wrk) grab vs bare Django view"].measured == "0.56x (median of 0.57, 0.56, 0.56)"
    assert not goals["(wrk) grab vs bare Django view"].met
    floor = goals["(wrk, for reference) one-round-trip view (bare-redis) vs bare view"]
    assert floor.measured.startswith("0.70x") and floor.met is None
    assert goals["(wrk, for reference) grab vs the one-round-trip view"].measured.startswith("0.80x")

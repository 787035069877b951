"""The harness's ratios: a variant is compared with the mean of the bare windows of the same run
(the start and the end for Locust; right before and right after the grab for wrk), never with
bare-auth, and the wrk goal reads that ratio."""

from __future__ import annotations

from loadtest.bench import wrk_goals
from loadtest.report import add_ratios


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

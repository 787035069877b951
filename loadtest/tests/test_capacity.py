"""The capacity model over a small hand-written results file: cores per tier, Redis shards and the
hot-packet ceiling, the primary's rows/s, network, the tier that runs out first, the log-in rush,
Redis memory for 10 million users, and predicted vs measured."""

from __future__ import annotations

import json

import pytest

from loadtest import capacity


def _r(scenario, name, *, web, worker=0.0, pg=0.0, redis=0.0, lb=None, n=1000, status=None, body=None, **kw):
    """A bench window of n server-counted requests with these CPU ms per request."""
    r = {
        "scenario": scenario,
        "name": name,
        "rps": 500.0,
        "requests": n,
        "server_requests": n,
        "cpu_s": {
            "web": web * n / 1000,
            "worker": worker * n / 1000,
            "pg_primary": pg * n / 1000,
            "redis": redis * n / 1000,
            "stores": (pg + redis) * n / 1000,
        },  # fmt: skip
        "web_cpu_ms_per_req": web,
        "worker_cpu_ms_per_req": worker,
        "redis_cpu_ms_per_req": redis,
        "stores_cpu_ms_per_req": pg + redis,
        "status_all": status or {"200": n},
        "avg_body_bytes": body,
        "extra": {},
    }
    if lb is not None:
        r["lb_cpu_ms_per_req"] = lb
    r.update(kw)
    return r


def doc():
    grab = _r("grab", "surge", web=1.0, worker=0.1, pg=0.05, redis=0.1, status={"200": 800, "410": 200}, body=50,
              io={"redis_in_bytes": 100_000, "redis_out_bytes": 50_000, "wal_bytes": 300_000},
              drain={"rows_in_window": 800}, rss_mb={"web": {"max": 80.0}, "worker": {"sum": 250.0}},
              loadgen_cpu_ms_per_req=0.5, other_cpu_share=0.0)  # fmt: skip
    return {
        "stamp": "2026-12-02-1500",
        "machine": {"nproc": 2, "cpu_model": "test"},
        "results": [
            _r("bare", "bare-redis", web=0.8, redis=0.05, loadgen_cpu_ms_per_req=0.5, other_cpu_share=0.0),
            grab,
            _r("grab", "surge-nginx", web=1.1, lb=0.2),
            _r("flash", "surge", web=1.0, worker=0.2, pg=0.1, redis=0.05, status={"202": 500, "410": 500}, body=100),
            _r("orders", "p1-cached", web=0.8, redis=0.04, body=2000),
            _r("login", "rush", web=250.0, pg=1.0, n=100),
        ],
        "validation": {
            "workers": [
                {"validates": "bare.bare-redis", "gunicorn_workers": 1, "rps": 1000.0},
                {"validates": "grab.surge", "gunicorn_workers": 3, "rps": 1000.0, "other_cpu_share": 0.25},
            ],
            "drain": {"backlog_rows": 5000, "rows_per_s": 4000.0},
        },
    }


def test_costs_per_request_per_tier():
    c = capacity.costs(doc())
    g = c["grab"]
    assert (g["web"], g["worker"], g["pg"], g["redis"]) == pytest.approx((1.0, 0.1, 0.05, 0.1))
    assert g["lb"] == pytest.approx(0.2)  # nginx's cost, from the grab through it, on every kind
    assert g["rows"] == pytest.approx(3 * 0.8)  # grab row, ledger entry, wallet; 80% of grabs win
    assert g["redis_net_bytes"] == pytest.approx(150) and g["wal_bytes"] == pytest.approx(300)
    assert c["flash"]["rows"] == pytest.approx(0.5)
    assert set(c) == {"grab", "flash", "orders", "login"}  # kinds the run has no window for are left out


def test_ten_thousand_grabs_on_one_packet():
    p = capacity.plan(capacity.costs(doc()), {"grab": 10_000})
    cores = p["cores"]
    # rate x ms / 1000 / 0.7 (planned at 70% busy)
    assert cores["web"] == pytest.approx(10_000 * 1.0 / 1000 / 0.7)
    assert cores["lb"] == pytest.approx(10_000 * 0.2 / 1000 / 0.7)
    assert cores["worker"] == pytest.approx(10_000 * 0.1 / 1000 / 0.7)
    assert cores["pg"] == pytest.approx(10_000 * 0.05 / 1000 / 0.7)
    assert cores["redis"] == pytest.approx(10_000 * 0.1 / 1000 / 0.7)
    assert p["redis_shards"] == 2  # 1.43 cores of Redis
    assert p["hot_slot_ceiling_per_s"] == pytest.approx(10_000)  # one shard, 0.1 ms per grab
    assert p["pg_rows_per_s"] == pytest.approx(24_000)
    assert p["pg_wal_bytes_per_s"] == pytest.approx(3_000_000)
    assert p["net_client_bytes_per_s"]["out"] == pytest.approx(10_000 * (50 + capacity.RESPONSE_HEADER_BYTES))
    assert p["net_client_bytes_per_s"]["in"] == pytest.approx(10_000 * capacity.REQUEST_BYTES)
    assert p["net_redis_bytes_per_s"] == pytest.approx(1_500_000)
    assert p["net_estimated_for"] == []
    # The drain (one at a time): 10,000 x (0.1 + 0.05) ms = 1.5 s of work a second: full at 0.67x.
    first = p["runs_out_first"]
    assert first["tier"] == "worker" and first["headroom_x"] == pytest.approx(1000 / 1500)
    assert p["limits"]["redis"]["headroom_x"] == pytest.approx(1.0)
    assert p["limits"]["pg"]["headroom_x"] == pytest.approx(64 * 0.7 * 1000 / 500)


def test_a_mix_sums_its_kinds_and_its_hot_product_is_one_shard():
    c = capacity.costs(doc())
    p = capacity.plan(c, {"flash": 1000, "orders": 2000}, hot="flash")
    assert p["cores"]["web"] == pytest.approx((1000 * 1.0 + 2000 * 0.8) / 1000 / 0.7)
    assert p["cores"]["redis"] == pytest.approx((1000 * 0.05 + 2000 * 0.04) / 1000 / 0.7)
    assert p["hot_slot_ceiling_per_s"] == pytest.approx(20_000)
    assert p["pg_rows_per_s"] == pytest.approx(500)
    assert p["runs_out_first"]["tier"] == "worker"  # 1000 x 0.3 ms = 0.3 s/s: 3.33x
    assert p["runs_out_first"]["headroom_x"] == pytest.approx(1000 / 300)
    # A drain measured from a backlog at 400 events/s: 500 flash events a second is past it.
    p = capacity.plan(c, {"flash": 1000, "orders": 2000}, hot="flash", drain_events_per_s=400)
    assert p["runs_out_first"]["tier"] == "worker" and p["runs_out_first"]["headroom_x"] == pytest.approx(0.8)
    assert "measured 400 events/s" in p["runs_out_first"]["why"]
    with pytest.raises(ValueError, match="signin"):
        capacity.plan(c, {"signin": 10})


def test_missing_response_sizes_are_said_to_be_estimated():
    d = doc()
    d["results"][1]["avg_body_bytes"] = None
    p = capacity.plan(capacity.costs(d), {"grab": 100})
    assert p["net_estimated_for"] == ["grab"]
    assert "(est.)" in capacity.sizing_table([p])


def test_login_rush_and_memory_for_ten_million_users():
    c = capacity.costs(doc())
    rush = capacity.login_rush(c, 100_000)
    assert rush["per_core_per_s"] == pytest.approx(4.0)
    assert rush["seconds"][8] == pytest.approx(100_000 * 251 / 1000 / 8)
    mem = {"per_user_bytes": 500, "per_user_kinds": {"user hash": 300, "session": 200},
           "per_campaign_bytes": 10_000, "campaign_shares": 100, "per_sale_bytes": 2_000, "sale_units": 10}  # fmt: skip
    m = capacity.memory_plan(mem, users=10_000_000, campaigns=100, sales=50, shares=1000, units=20)
    # Campaigns and sales scale with their size: 100 B a share, 200 B a unit.
    assert m["raw_bytes"] == pytest.approx(10_000_000 * 500 + 100 * 100_000 + 50 * 4_000)
    assert m["with_overhead_bytes"] == pytest.approx(m["raw_bytes"] * 1.5)


def test_validation_predicted_against_measured():
    checks = {ch["what"]: ch for ch in capacity.validation(doc())}
    one = checks["bare.bare-redis, 1 worker(s)"]
    # One sync worker: at most 1000 / 0.8 ms; the box: 2 cores / (0.85 + 0.5 load generator) ms.
    assert one["predicted"] == pytest.approx(min(1250, 2000 / 1.35))
    assert one["error"] == pytest.approx(one["predicted"] / 1000 - 1)
    three = checks["grab.surge, 3 worker(s)"]
    # Other processes took a quarter of the box in that window: 1.5 cores left.
    assert three["predicted"] == pytest.approx(1500 / (1.0 + 0.15 + 0.1 + 0.5))
    drain = checks["drain of a 5,000-row backlog, worker start to last row (rows/s)"]
    assert drain["predicted"] == pytest.approx(1000 / ((0.1 + 0.05) * 1000 / 800))
    assert drain["measured"] == 4000


def test_cli_reads_the_newest_stamped_results(tmp_path, capsys, monkeypatch):
    (tmp_path / "2026-12-01-0900.json").write_text(json.dumps({"results": []}))
    (tmp_path / "2026-12-02-1500.json").write_text(json.dumps(doc()))
    (tmp_path / "memory.json").write_text("{}")
    assert capacity.latest_results(tmp_path).name == "2026-12-02-1500.json"
    monkeypatch.setattr(capacity, "RESULTS_DIR", tmp_path)
    assert capacity.main([str(tmp_path / "2026-12-02-1500.json"), "--rate", "5000", "--memory", "/nonexistent",
                          "--mix", "flash=1000,orders=2000", "--json"]) == 0  # fmt: skip
    model = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in model["plans"]] == ["5,000 grabs/s (one packet)", "sale-day mix (*)"]
    assert model["plans"][0]["cores"]["web"] == pytest.approx(5000 / 1000 / 0.7)
    # The run's backlog drain (4,000 rows/s) caps 5,000 grabs/s (4,000 winners/s) at 1x.
    assert model["drain_measured_events_per_s"] == 4000
    assert model["plans"][0]["limits"]["worker"]["headroom_x"] == pytest.approx(1.0)
    assert capacity.main([str(tmp_path / "2026-12-02-1500.json"), "--memory", "/nonexistent"]) == 0
    text = capsys.readouterr().out
    assert "100,000 grabs/s" in text and "runs out first" in text and "Validation" in text

"""The load harness's naive baselines and bare views, mounted under /api/bench/ by
`loadtest.settings_bench` only: the product neither installs nor imports this app."""

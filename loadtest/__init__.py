"""The load-test harness: `python -m loadtest.bench` (see loadtest/RESULTS.md)."""

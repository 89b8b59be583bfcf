"""Benchmarks: `python -m bench.bench` prints request counts, warm latency and cold start figures."""

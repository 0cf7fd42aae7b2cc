"""Benchmarks (`make bench`): each bench_<area>.py exposes run() -> list of result rows."""

"""Benchmarks that print figures; `bench/turns.py` is the one to run."""

"""Benchmarks of tasklogs: one harness (``python -m bench all``, see bench/README.md) and
the focused scripts it builds on (``python -m bench.<name>``). Figures are printed and
saved under bench/results/; numbers never live in timed unit tests.
"""

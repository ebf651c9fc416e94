"""Benchmarks: ``python -m bench [name ...]`` runs ``bench/<name>.py``'s ``main()``.

Each benchmark measures its own baseline in the same run, prints ratios against it, and
writes ``bench/results/<name>.json``. Machines are noisy: compare ratios, not seconds.
"""

"""Benchmarks of the SASC method on modules whose true explanation is known.

``sasc.bench.d3``: the paper's 54 synthetic D3 modules (section 3), its two ablations
(restricted corpus, noisy module), judging and the results table.
"""

"""Benchmarks of Sampletree's targets (DESIGN.md, "Targets"). See bench/README.md.

Run from the repository root: ``python -m bench.gen_library OUT_DIR`` builds a synthetic
sample library, ``python -m bench.scan --library-dir OUT_DIR`` measures scanning it.
"""

"""Side-by-side benchmarks of ACP Registry and CNCF Distribution on one machine.

Run ``python -m bench --help`` from the repository root; see docs/benchmarks.md.
"""

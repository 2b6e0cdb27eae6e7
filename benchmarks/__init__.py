"""Benchmarks for challenge_qa: ``python -m benchmarks --help``.

Data is read from ``../shared/benchmarks`` next to the project (override with ``--data DIR``
or ``CHALLENGE_QA_BENCH_DATA``) and never copied into the project; indexes go to temp dirs.
"""

"""Benchmarks for challenge_qa: ``python -m benchmarks --help``.

Each benchmark module has ``run(ctx)`` (``ctx``: a ``common.Context``: data folder, quick
mode, results folder, seed, settings overrides), which ``python -m benchmarks`` calls; the
SQuAD ones also keep their own command line (``python -m benchmarks.squad --help``), which
builds a context and calls the same ``run``. Answer and ranking metrics, the data location,
the SQuAD even/odd split and the seed come from ``challenge_qa.eval``, shared with
``training/train_reader.py``.

Data is read from ``../shared/benchmarks`` next to the project (override with ``--data DIR``
or ``CHALLENGE_QA_BENCH_DATA``) and never copied into the project; indexes go to temp dirs.
"""

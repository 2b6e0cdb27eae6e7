"""Measuring quality: BEIR retrieval metrics, SQuAD answer metrics and the benchmark data."""

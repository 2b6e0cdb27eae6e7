"""Searching a committed index: dense and BM25 candidates, fused, filtered, cited as hits."""

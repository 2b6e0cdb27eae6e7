"""The benchmark suite's short version runs in CI so that it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "scifact" / "corpus.jsonl").is_file(),
                    reason="benchmark data (../shared/benchmarks) is not beside the project")
def test_quick_benchmarks_run_and_write_their_figures(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only",
         "core,encoders,latency,scale,feeds", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    core = json.loads((tmp_path / "core.quick.json").read_text())
    scale = json.loads((tmp_path / "scale.quick.json").read_text())
    names = {t["name"] for t in core["targets"]}
    assert {"build / encode", "retrieve / encode+search (p50)",
            "incremental / full build"} <= names
    assert all(t["value"] > 0 for t in core["targets"])
    sizes = scale["sizes"]
    assert [r["target_passages"] for r in sizes] == [5_000, 20_000]
    assert all(r["build"]["passages"] >= r["target_passages"] for r in sizes)
    assert all(r["update"]["add_median_s"] > 0 and r["serve"]["rank_ms"]["p50"] > 0
               for r in sizes)
    assert 0.0 <= sizes[-1]["serve_optimized"]["dense_recall@10"] <= 1.0
    assert sizes[-1]["serve_optimized"]["segments"] == 1
    assert "build / encode" in done.stdout and "recall@10" in done.stdout
    enc = json.loads((tmp_path / "encoders.quick.json").read_text())
    assert set(enc["backends"]) == {"torch", "onnx", "onnx-int8"}
    for row in enc["backends"].values():
        assert row["build_passages_per_s"] > 0 and 0.0 <= row["quality"]["ndcg@10"] <= 1.0
    assert enc["auto_picks"] in enc["backends"]
    lat = json.loads((tmp_path / "latency.quick.json").read_text())
    assert lat["warm"]["latency_ms"]["answer"]["p50"] > 0
    assert set(lat["cold_start"]) == {"onnx-int8", "torch"}
    assert all("Novitskiy" in c["answer"] for c in lat["cold_start"].values())
    assert all(m["build_peak_rss_mb"] > 0 and m["serve_peak_rss_mb"] > 0
               for m in lat["memory"].values())
    feeds = json.loads((tmp_path / "feeds.quick.json").read_text())
    assert [r["target_passages"] for r in feeds["sizes"]] == [1_000, 10_000]
    assert all(len(r["polls"]) == feeds["repeats"] and r["poll_build_median_s"] > 0
               and all(p["added"] == feeds["items"] for p in r["polls"])
               for r in feeds["sizes"])
    assert feeds["ratio"] > 0 and "per new article" in done.stdout

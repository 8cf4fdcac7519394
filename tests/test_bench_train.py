"""bench/bench_train.py's row on yolov2-tiny at 64 px, one iteration: both engines train and report throughput."""
import importlib.util

import pytest

from conftest import ROOT, needs_oracle

spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "bench_train.py")
bench_train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_train)


@needs_oracle
@pytest.mark.skipif(not bench_train.IMAGES.is_dir(), reason=f"no {bench_train.IMAGES}")
def test_bench_row_tiny_64(tmp_path):
    paths, data = bench_train.write_train_data(tmp_path)
    row = bench_train.bench_row("yolov2-tiny", 64, 2, 1, tmp_path, paths, data)
    assert row["ours"] > 0 and row["darknet"] > 0
    assert row["load_ms"] > 0 and row["peak_mb"] > 0 and row["darknet_peak_mb"] > 0

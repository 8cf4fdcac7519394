"""The fast path's measured choices (darknet_py/cpu/tune.py): the fastest candidate is kept, cached per
machine and reused; tuned networks still match the reference layers; the measured OpenBLAS kernel family
is what the next process loads. The clock is a stand-in wherever a choice is asserted (no real timing)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, relative_error

from darknet_py.cpu import blas_env, conv, engine, tune

sys.path.insert(0, os.path.dirname(__file__))
from test_cpu_fast import NETS, build, reference_outputs  # noqa: E402


class FakeClock:
    """perf_counter stand-in: time moves only when a candidate runs, by that candidate's cost."""

    def __init__(self):
        self.now = 0.

    def __call__(self):
        return self.now

    def runs(self, costs, calls):
        def run(name):
            calls.append(name)
            self.now += costs[name]
        return {name: (lambda name=name: run(name)) for name in costs}


def test_the_fastest_candidate_is_kept_and_cached(tmp_path):
    clock, calls = FakeClock(), []
    tuner = tune.Tuner(tmp_path / "cache.json", clock, load=lambda: .5)
    assert tuner.choose("layer", clock.runs({"winograd2": 3., "direct": 1., "direct/4": 2.}, calls)) == "direct"
    assert len(calls) == 3 * (1 + tune.ROUNDS)  # a warm-up and ROUNDS timed runs each
    saved = json.loads((tmp_path / "cache.json").read_text())
    assert saved[blas_env.cpu_key()]["layers"] == {"layer": ["direct", .5]}  # with the load average then
    again = tune.Tuner(tmp_path / "cache.json", clock, load=lambda: .5)
    calls.clear()
    assert again.choose("layer", clock.runs({"winograd2": 1., "direct": 1.}, calls)) == "direct" and not calls


def test_a_choice_made_on_a_busy_machine_is_measured_again_when_it_is_quieter(tmp_path):
    clock, calls = FakeClock(), []
    busy = float(os.cpu_count() + 2)
    tune.Tuner(tmp_path / "cache.json", clock, load=lambda: busy).choose("layer", clock.runs({"a": 1., "b": 2.}, calls))
    assert tune.Tuner(tmp_path / "cache.json", clock, load=lambda: busy).known("layer", ["a", "b"]) == "a"
    quiet = tune.Tuner(tmp_path / "cache.json", clock, load=lambda: .2)
    assert quiet.known("layer", ["a", "b"]) is None
    assert quiet.choose("layer", clock.runs({"a": 2., "b": 1.}, calls)) == "b"


def test_the_shape_rule_stays_unless_another_method_is_clearly_faster(tmp_path):
    clock, calls = FakeClock(), []
    tuner = tune.Tuner(tmp_path / "cache.json", clock, load=lambda: .5)
    assert tuner.choose("near", clock.runs({"winograd4": 1., "direct": .97}, calls), default="winograd4") == "winograd4"
    assert tuner.choose("far", clock.runs({"winograd4": 1., "direct": .9}, calls), default="winograd4") == "direct"


def test_an_unreadable_cache_is_measured_again(tmp_path):
    (tmp_path / "cache.json").write_text("{not json")
    clock, calls = FakeClock(), []
    tuner = tune.Tuner(tmp_path / "cache.json", clock)
    assert tuner.choose("layer", clock.runs({"a": 2., "b": 1.}, calls)) == "b" and calls
    speeds = tuner.openblas_core(measure=lambda: {"Haswell": 90., "SkylakeX": 80.})
    assert speeds == "Haswell" and tune.Tuner(tmp_path / "cache.json").machine["openblas_core"] == "Haswell"


@pytest.mark.parametrize("name,size,sections,methods", NETS[:4], ids=[n[0] for n in NETS[:4]])
def test_tuned_networks_match_the_reference(tmp_path, monkeypatch, name, size, sections, methods):
    monkeypatch.setenv(blas_env.TUNE_VAR, "1")
    tuner = tune.Tuner(tmp_path / "cache.json")
    tuner.machine["openblas_core"] = None  # measured already: no subprocesses here
    monkeypatch.setattr(engine, "_tuner", tuner)
    _, _, net = build(tmp_path, name, size, sections)
    x = np.random.default_rng(1).random((2,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    net.forward(x)
    for i, (layer, expected) in enumerate(zip(net.layers, ref)):
        assert relative_error(layer.output, expected) < 1e-5, f"layer {i} {layer.type}"
    convs = [layer for layer in net.layers if layer.type == "convolutional"]
    chosen = json.loads((tmp_path / "cache.json").read_text())[blas_env.cpu_key()]["layers"]
    assert len(chosen) == sum(len(conv.candidates(layer)) > 1 for layer in convs) > 0
    assert {choice for choice, _ in chosen.values()} <= set(conv.CANDIDATES)


def _core_in_new_process(tmp_path, tuning):
    code = "import os, darknet_py; print(os.environ.get('OPENBLAS_CORETYPE'))"
    env = {k: v for k, v in os.environ.items() if k != blas_env.CORETYPE_VAR}
    env.update({"PYTHONPATH": str(ROOT), blas_env.CACHE_VAR: str(tmp_path), blas_env.TUNE_VAR: tuning})
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_measured_openblas_core_is_loaded_by_the_next_process(tmp_path):
    (tmp_path / "cpu-tuning.json").write_text(json.dumps({blas_env.cpu_key(): {"openblas_core": "Haswell"}}))
    assert _core_in_new_process(tmp_path, "1") == "Haswell"
    rule = blas_env.AVX512_CORE if blas_env.cpu_has_avx512() else "None"
    assert _core_in_new_process(tmp_path, "0") == rule  # DARKNET_PY_TUNE=0: no cache, the flag rule


@pytest.mark.skipif(not {"avx2", "avx512f"} <= blas_env.cpu_flags()[1], reason="needs a CPU with AVX-512")
def test_both_openblas_cores_are_measured():
    speeds = tune.measure_openblas_cores()
    assert set(speeds) == {blas_env.AVX512_CORE, blas_env.AVX2_CORE} and min(speeds.values()) > 0

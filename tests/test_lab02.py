"""lab02's own tests: the benchmark runs the very reference the notebook holds; merges are exact."""
from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lab02_bench", ROOT / "benchmarks" / "lab02_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ref(bench):
    return bench.load_reference()


def test_benchmark_loads_the_solution_notebooks_kernel(ref):
    q, k, v = (torch.randn(1, 2, n, 32) for n in (19, 40, 40))
    o, lse = ref["flash_attention"](q, k, v)
    o_ref, lse_ref = ref["attention_reference"](q, k, v)
    assert (o.double() - o_ref).abs().max() < 1e-4
    assert (lse.double() - lse_ref).abs().max() < 1e-4


def test_benchmark_without_cuda_says_so_and_exits_0(bench, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would run")
    assert bench.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), cuts=st.lists(st.integers(0, 60), max_size=4), scale=st.sampled_from([1.0, 1e4]),
       masked=st.integers(0, 60), seed=st.integers(0, 2**31 - 1))
def test_folding_merge_softmax_stats_over_any_split_is_exact(ref, n, cuts, scale, masked, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, n, generator=g, dtype=torch.float64) * scale
    x[0, : min(masked, n)] = -math.inf
    bounds = [0] + sorted(min(c, n) for c in cuts) + [n]
    m, l = torch.full((2,), -math.inf, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            m, l = ref["merge_softmax_stats"](m, l, *ref["softmax_stats"](x[:, lo:hi]))
    m_ref, l_ref = ref["softmax_stats"](x)
    assert torch.equal(m, m_ref)
    assert torch.allclose(l, l_ref, rtol=1e-12, atol=0)
    assert not torch.isnan(l).any()

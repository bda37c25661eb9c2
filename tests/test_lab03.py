"""lab03's own answer keys: the float64 gather-then-attend reference, the waste formula, the cache model."""
from __future__ import annotations

import math

import torch

from autograder.lab03 import _Model, _paged_inputs, _reference, _waste


def test_reference_equals_attention_over_the_gathered_context():
    g = torch.Generator().manual_seed(0)
    q, kc, vc, bt, lens = _paged_inputs(g, lens=[1, 9, 20], h=4, h_kv=2, d=8, bs=4, dtype=torch.float64)
    out = _reference(q, kc, vc, bt, lens)
    for b, n in enumerate(lens.tolist()):
        rows = [bt[b, p // 4].item() * 4 + p % 4 for p in range(n)]
        k = kc.reshape(-1, 2, 8)[rows]  # (L, H_kv, D)
        v = vc.reshape(-1, 2, 8)[rows]
        for h in range(4):
            s = (k[:, h // 2] @ q[b, h]) / math.sqrt(8)
            exp = torch.softmax(s, 0) @ v[:, h // 2]
            assert torch.allclose(out[b, h], exp, atol=1e-12)


def test_paged_inputs_poison_only_slots_outside_every_context():
    g = torch.Generator().manual_seed(1)
    q, kc, vc, bt, lens = _paged_inputs(g, lens=[3, 8, 13], h=2, h_kv=2, d=4, bs=4, dtype=torch.float32)
    assert torch.isfinite(_reference(q, kc, vc, bt, lens)).all()
    assert not torch.isfinite(kc).all()  # some unused slot holds NaN


def test_waste_formula_on_hand_cases():
    assert _waste([1, 17, 32], 64, 16) == {"contiguous": 1 - 50 / 192, "paged": 1 - 50 / 80}
    assert _waste([], 8, 4) == {"contiguous": 0.0, "paged": 0.0}


def test_model_copies_on_write_only_a_partly_filled_shared_block():
    m = _Model(8, 4, 1, 1)
    m.add("p")
    m.append("p", torch.zeros(6, 1, 1), torch.zeros(6, 1, 1))
    m.fork("p", "c")
    assert m.need("c", 1) == 1  # copy of the shared half-full block
    m.append("c", torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
    assert m.tables["c"][0] == m.tables["p"][0] and m.tables["c"][1] != m.tables["p"][1]
    assert m.free_count() == 5
    m.free("p")
    m.free("c")
    assert m.free_count() == 8

"""lab03's answer keys (inferlab.grading.answers / inputs): the float64 gather-then-attend
reference, poisoned paged inputs, the waste formula. The block bookkeeping is inferlab.engine's
(tests/test_engine.py)."""
from __future__ import annotations

import math

import torch

from inferlab.grading import answers, inputs


def test_reference_equals_attention_over_the_gathered_context():
    g = torch.Generator().manual_seed(0)
    q, kc, vc, bt, lens = inputs.paged_inputs(g, lens=[1, 9, 20], h=4, h_kv=2, d=8, bs=4, dtype=torch.float64)
    out = answers.paged_attention(q, kc, vc, bt, lens)
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
    q, kc, vc, bt, lens = inputs.paged_inputs(g, lens=[3, 8, 13], h=2, h_kv=2, d=4, bs=4, dtype=torch.float32)
    assert torch.isfinite(answers.paged_attention(q, kc, vc, bt, lens)).all()
    assert not torch.isfinite(kc).all()  # some unused slot holds NaN


def test_waste_formula_on_hand_cases():
    assert answers.kv_memory_waste([1, 17, 32], 64, 16) == {"contiguous": 1 - 50 / 192, "paged": 1 - 50 / 80}
    assert answers.kv_memory_waste([], 8, 4) == {"contiguous": 0.0, "paged": 0.0}


def test_paged_gather_reads_the_context_through_the_table():
    kc = torch.arange(6 * 4, dtype=torch.float64).reshape(6, 4, 1, 1)
    k, v = answers.paged_gather(kc, -kc, torch.tensor([5, 2, -1, 99]), 6)
    assert k.flatten().tolist() == [20, 21, 22, 23, 8, 9]
    assert torch.equal(v, -k)


def test_attention_answer_key_masks_rows_and_keys():
    g = torch.Generator().manual_seed(2)
    q, k, v = inputs.qkv(g, 1, 2, 3, 5, 4, torch.float64)
    o, lse = answers.attention(q, k, v, causal=True)
    s = (q @ k.transpose(-1, -2)) / 2
    s = s.masked_fill(~answers.causal_mask(3, 5), -math.inf)
    assert torch.allclose(o, torch.softmax(s, -1) @ v, atol=1e-12)
    assert torch.allclose(lse, torch.logsumexp(s, -1), atol=1e-12)
    o, lse = answers.attention(q, k, v, key_mask=torch.zeros(5, dtype=torch.bool))
    assert (o == 0).all() and torch.isneginf(lse).all()

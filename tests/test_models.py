"""The course model's contract (SPEC "The course model"): interface, shapes, KV-cache equivalence, counter, tokenizer."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from inferlab import models
from inferlab.models import DATA_DIR, WEIGHTS_DIR, LlamaConfig, decode, encode, greedy_reference, load


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are tiny: one thread is fastest and keeps the module fast on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def target():
    return load("target")


@pytest.fixture(scope="module")
def draft():
    return load("draft")


@pytest.fixture(params=models.NAMES)
def model(request):
    return load(request.param)


def manual_attention(q, k, v):
    """Plain softmax attention with an explicit causal mask; query head h reads kv head h // group."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)  # (B, H, T, D)
    v = v.repeat_interleave(group, dim=1)  # (B, H, T, D)
    T = q.shape[2]
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5  # (B, H, T, T)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v  # (B, H, T, D)


def cached_greedy(model, prompt, max_new_tokens):
    """Greedy decoding with a KV cache built from embed/qkv/finish/logits: prefill once, then one token a step."""
    cache = [None] * model.config.num_layers
    ids = torch.tensor([prompt])  # (1, T)
    pos = 0
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            T = ids.shape[1]
            positions = torch.arange(pos, pos + T)  # (T,)
            x = model.embed(ids)  # (1, T, C)
            for i, layer in enumerate(model.layers):
                q, k, v = layer.qkv(x, positions)
                if cache[i] is not None:
                    k = torch.cat([cache[i][0], k], dim=2)  # (1, Hkv, pos + T, D)
                    v = torch.cat([cache[i][1], v], dim=2)
                cache[i] = (k, v)
                group = q.shape[1] // k.shape[1]
                kk, vv = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
                scores = q @ kk.transpose(-1, -2) * q.shape[-1] ** -0.5  # (1, H, T, pos + T)
                keep = torch.arange(pos + T)[None, :] <= positions[:, None]  # (T, pos + T)
                attn = scores.masked_fill(~keep, float("-inf")).softmax(-1) @ vv  # (1, H, T, D)
                x = layer.finish(x, attn)
            token = int(model.logits(x)[0, -1].argmax())
            new.append(token)
            pos += T
            ids = torch.tensor([[token]])
    return new


def test_load_gives_eval_float32_cpu_model_without_grads(model):
    assert not model.training
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and p.device.type == "cpu", name
        assert not p.requires_grad, f"{name} should have requires_grad=False"
    assert model.tokens_processed == 0


def test_config_is_frozen_and_validated(target, draft):
    cfg = target.config
    for field in ("num_layers", "num_heads", "num_kv_heads", "head_dim", "vocab_size", "max_seq_len"):
        assert isinstance(getattr(cfg, field), int)
    assert cfg.num_heads > cfg.num_kv_heads and cfg.num_heads % cfg.num_kv_heads == 0, "target uses GQA"
    assert draft.config.vocab_size == cfg.vocab_size == len(models.get_tokenizer().token_bytes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_layers = 3
    with pytest.raises(ValueError, match="num_kv_heads"):
        dataclasses.replace(cfg, num_kv_heads=3)
    with pytest.raises(ValueError, match="head_dim"):
        dataclasses.replace(cfg, head_dim=0)


def test_interface_shapes(model):
    cfg = model.config
    B, T, H, Hkv, D = 2, 7, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    ids = torch.randint(0, cfg.vocab_size, (B, T))
    with torch.no_grad():
        x = model.embed(ids)
        assert x.shape == (B, T, cfg.hidden_size)
        assert len(model.layers) == cfg.num_layers
        q, k, v = model.layers[0].qkv(x, torch.arange(3, 3 + T))
        assert q.shape == (B, H, T, D) and k.shape == (B, Hkv, T, D) and v.shape == (B, Hkv, T, D)
        out = model.layers[0].finish(x, torch.zeros(B, H, T, D))
        assert out.shape == (B, T, cfg.hidden_size)
        assert model.logits(out).shape == (B, T, cfg.vocab_size)
        assert model(ids).shape == (B, T, cfg.vocab_size)


def test_forward_equals_manual_loop_with_causal_mask(model):
    first = torch.tensor(encode("User: What is the KV cache?\nAssistant: The KV cache"))
    ids = torch.stack([first, first.flip(0)])  # (2, T): a batch of two different rows
    with torch.no_grad():
        expected = model(ids)
        x = model.embed(ids)
        positions = torch.arange(ids.shape[1])
        for layer in model.layers:
            q, k, v = layer.qkv(x, positions)
            x = layer.finish(x, manual_attention(q, k, v))
        got = model.logits(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5,
                               msg=lambda m: f"model(ids) differs from the embed/qkv/attention/finish/logits loop: {m}")


@pytest.mark.parametrize("prompt", ["The KV cache", "User: What is speculative decoding?\nAssistant:"])
def test_kv_cached_greedy_matches_greedy_reference(target, prompt):
    ids = encode(prompt)
    expected = greedy_reference(target, ids, 20)
    got = cached_greedy(target, ids, 20)
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)
    assert got == expected, f"cached greedy diverges from greedy_reference at new token {first}"


def test_draft_cached_greedy_matches_greedy_reference(draft):
    ids = encode("Once upon a time")
    assert cached_greedy(draft, ids, 20) == greedy_reference(draft, ids, 20)


def test_tokens_processed_counts_prefill_then_one_per_step_and_resets():
    model = load("target")
    prompt = encode("The KV cache")
    cached_greedy(model, prompt, 5)
    assert model.tokens_processed == len(prompt) + 4, "prefill counts T, each later step counts 1"
    model.tokens_processed = 0
    assert model.tokens_processed == 0
    with torch.no_grad():
        model(torch.zeros(3, 4, dtype=torch.long))
    assert model.tokens_processed == 12, "model(ids) counts B * T positions through layer 0's qkv"
    with torch.no_grad():
        model.layers[1].qkv(model.embed(torch.zeros(1, 5, dtype=torch.long)), torch.arange(5))
    assert model.tokens_processed == 12, "only layer 0 counts"


def test_greedy_reference_returns_new_tokens_only(target):
    ids = encode("The KV cache")
    new = greedy_reference(target, ids, 8)
    assert len(new) == 8 and all(0 <= t < target.config.vocab_size for t in new)
    assert greedy_reference(target, torch.tensor(ids), 8) == new
    with pytest.raises(ValueError, match="max_seq_len"):
        greedy_reference(target, ids, target.config.max_seq_len)


@pytest.mark.parametrize("text", ["", "The KV cache", "héllo wörld, naïve café", "日本語のテキスト 🚀✨",
                                  "  two spaces\n\n\ttab\r\nUser: hi", "a\x00b\ud800c", "12345 + 678 = 1023"])
def test_encode_decode_round_trip(text):
    ids = encode(text)
    assert all(isinstance(i, int) for i in ids)
    assert decode(ids) == text


def test_tokenizer_compresses_course_text_and_rejects_bad_ids():
    text = "The KV cache stores the keys and values of every token the model has already seen."
    assert len(encode(text)) < len(text.encode()) / 2, "BPE merges should compress course text"
    assert decode(torch.tensor(encode(text))) == text
    with pytest.raises(ValueError, match="ids"):
        decode([0, 10**6])
    with pytest.raises(TypeError, match="text"):
        encode(b"bytes")


def test_load_is_deterministic():
    a, b = load("draft"), load("draft")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    ids = torch.tensor([encode("The KV cache")])
    with torch.no_grad():
        assert torch.equal(a(ids), b(ids))


def test_unknown_name_raises_value_error_mentioning_name():
    with pytest.raises(ValueError, match="name"):
        load("llama-70b")


def test_bad_inputs_raise_value_error_and_leave_counter_unchanged(target):
    target.tokens_processed = 0
    x = target.embed(torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        target.layers[0].qkv(x, torch.arange(5))
    with pytest.raises(ValueError, match="positions"):
        target.layers[0].qkv(x, torch.arange(4) + target.config.max_seq_len)
    assert target.tokens_processed == 0, "a raising qkv must not count tokens"
    with pytest.raises(ValueError, match="ids"):
        target.embed(torch.tensor([[target.config.vocab_size]]))
    with pytest.raises(ValueError, match="attn"):
        target.layers[0].finish(x, torch.zeros(1, target.config.num_kv_heads, 4, target.config.head_dim))
    with pytest.raises(ValueError, match="max_seq_len"):
        target(torch.zeros(1, target.config.max_seq_len + 1, dtype=torch.long))


def test_weights_dir_is_at_most_6_mb():
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir() if p.is_file())
    assert total <= 6 * 2**20, f"weights take {total / 2**20:.2f} MiB > 6 MiB"


def test_draft_agrees_with_target_on_held_out_text(target, draft):
    ids = torch.tensor(encode((DATA_DIR / "val.txt").read_text())[: 2 * 512]).view(2, 512)  # (2, 512)
    with torch.no_grad():
        agreement = (target(ids).argmax(-1) == draft(ids).argmax(-1)).float().mean().item()
    assert agreement >= 0.5, f"draft agrees with the target's greedy choice on {agreement:.1%} of positions (< 50%)"

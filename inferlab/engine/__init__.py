"""The course engine: a small LLM serving engine on the course model, one concept per module.

    config.py         EngineConfig: KV blocks and step budgets, validated
    sequence.py       Sequence: a request's tokens, cache progress, blocks, timings
    block_manager.py  BlockManager: free list, refcounts, prefix caching, fork + copy-on-write
    kv_cache.py       KVCache: one layer's paged K/V store (write by slot, gather by table)
    attention.py      attention functions over the paged KV (plain torch; a decode-kernel adapter)
    model_runner.py   ModelRunner: the model's forward over a packed batch (CacheInfo)
    sampler.py        greedy and seeded sampling
    scheduler.py      Scheduler: continuous batching, chunked prefill, preemption (lab07 rules)
    invariants.py     replay any scheduler's plans against the lab07 rules
    engine.py         Engine: step() = schedule -> run -> post-process; generate(); stats; records
"""
from inferlab.engine.attention import decode_kernel_attention, torch_paged_attention
from inferlab.engine.block_manager import BlockManager
from inferlab.engine.config import EngineConfig
from inferlab.engine.engine import Engine
from inferlab.engine.invariants import ScheduleViolation, check_plans, check_scheduler, find_violation, run_workload
from inferlab.engine.kv_cache import KVCache
from inferlab.engine.model_runner import CacheInfo, ModelRunner
from inferlab.engine.scheduler import Plan, Scheduler
from inferlab.engine.sequence import Sequence, SequenceStatus

__all__ = ["BlockManager", "CacheInfo", "Engine", "EngineConfig", "KVCache", "ModelRunner", "Plan",
           "ScheduleViolation", "Scheduler", "Sequence", "SequenceStatus", "check_plans", "check_scheduler",
           "decode_kernel_attention", "find_violation", "run_workload", "torch_paged_attention"]

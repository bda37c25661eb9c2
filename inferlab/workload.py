"""Old name of two modules, kept for the course notebooks and code that import it:
the traces are `inferlab.traces`, the drivers `inferlab.grading.probes.tiers`."""
from inferlab.grading.probes.tiers import (  # noqa: F401
    churn_policy, fill_policy, make_block, run_cache_ops, run_lookups, run_policy_ops, tiers_of,
)
from inferlab.traces import Request, block_keys, chat_trace, lookups  # noqa: F401

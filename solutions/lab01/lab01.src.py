# %% [markdown]
# # lab01 · Inference basics · 推理基础

# %%
import torch
import inferlab

# %% [markdown]
# ## Task 1 · causal_mask (lab01 · task 1)

# %% [solution id=lab01_causal_mask]
def causal_mask(n_q, n_k, device=None):
    """(n_q, n_k) bool mask, True = may attend; queries are the last n_q positions."""
    ### BEGIN SOLUTION
    if n_q < 1 or n_k < 1 or n_q > n_k:
        raise ValueError(f"need 1 <= n_q <= n_k, got n_q={n_q}, n_k={n_k}")
    i = torch.arange(n_q, device=device)[:, None]
    j = torch.arange(n_k, device=device)[None, :]
    return j <= i + (n_k - n_q)
    ### END SOLUTION

# %% [test id=lab01_task1 points=3 category=knowledge]
from inferlab.grading import check_here
check_here("lab01", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task1", globals(), hidden=True)
### END HIDDEN TESTS

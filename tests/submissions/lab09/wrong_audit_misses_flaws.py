# expect-fail: audit_names_the_flaws
"""Finds the timing flaws but not the serving ones, and names a decoy."""


def audit_flaws():
    return {"no_warmup", "no_sync", "mean_of_skewed_sample", "coarse_timer"}

# expect-fail: incident_practice, incidents_fix_meets_slo
"""The right causes, timid changes: a few more blocks, twice the request slots, half the chunk, one draft token
fewer. One change, but not one that meets the SLO."""
_right_diagnose = diagnose


def diagnose(report):
    out = _right_diagnose(report)
    cfg = report["config"]
    knob = next(iter(out["change"]))
    if knob in ("num_blocks", "max_num_seqs"):
        out["change"] = {knob: cfg[knob] * 2}
    elif knob == "max_num_batched_tokens":
        out["change"] = {knob: cfg[knob] // 2}
    elif knob == "num_speculative_tokens":
        out["change"] = {knob: cfg[knob] - 1}
    elif knob == "enable_prefix_caching":
        out["change"] = {"max_num_seqs": cfg["max_num_seqs"] * 2}
    elif knob == "sampler":
        out["change"] = {"max_num_seqs": cfg["max_num_seqs"] * 2}
    else:
        out["change"] = {"num_blocks": report["limits"]["num_blocks"][1]}
    return out

# expect-fail: incident_practice, incidents_root_cause, incidents_fix_meets_slo
"""Every incident is blamed on the KV pool ("add more memory")."""
def diagnose(report):
    return {"cause": "kv_blocks_too_few", "change": {"num_blocks": report["limits"]["num_blocks"][1]}}

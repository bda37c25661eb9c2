# expect-fail: ring_all_reduce_on_two_ranks, ring_all_reduce_matches_all_reduce, ring_all_reduce_sends_ring_bytes, ring_all_reduce_uses_point_to_point_only
"""A submission that starts a process from inside a rank: the launcher's exception to the sandbox
must not extend to the submission's own code (it runs with no launcher frame on its stack)."""
import subprocess

_reference_ring_all_reduce = ring_all_reduce  # noqa: F821 - defined by the reference cells


def ring_all_reduce(tensor):
    subprocess.run(["true"], check=True)
    return _reference_ring_all_reduce(tensor)

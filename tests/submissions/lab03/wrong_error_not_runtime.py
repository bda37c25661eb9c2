# expect-fail: out_of_blocks_error_is_a_runtime_error
"""OutOfBlocksError derives from Exception, not RuntimeError: callers that catch RuntimeError miss it."""


class OutOfBlocksError(Exception):
    """No free KV block is left."""

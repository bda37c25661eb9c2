# expect-fail: quantize_int8_every_dim_dtype_and_edge
"""scale = absmax / 127 even for an all-zero slice: scale 0, and 0 / 0 inside."""


@triton.jit
def _quantize_rows_nozero(x_ptr, q_ptr, s_ptr, n_rows, n_cols, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_D)
    row_ok = rows < n_rows
    mask = row_ok[:, None] & (cols[None, :] < n_cols)
    offs = rows.to(tl.int64)[:, None] * n_cols + cols[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    scale = tl.max(tl.abs(x), axis=1) / 127.0
    q = tl.minimum(tl.maximum(tl.floor(x / scale[:, None] + 0.5), -127.0), 127.0)
    tl.store(q_ptr + offs, q.to(tl.int8), mask=mask)
    tl.store(s_ptr + rows, scale, mask=row_ok)


_quantize_rows = _quantize_rows_nozero

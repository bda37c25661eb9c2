"""InferLab: the shared helpers of the course (model, interpreter, grading, CLI)."""
from __future__ import annotations

import os as _os

__version__ = "0.1.0"


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing is reported by `inferlab check`
        return False


# Triton reads TRITON_INTERPRET when a @triton.jit decorator runs, so it must be set
# before any lab defines a kernel. With no CUDA device the interpreter is the only way.
if "TRITON_INTERPRET" not in _os.environ and not _cuda_available():
    _os.environ["TRITON_INTERPRET"] = "1"

INTERPRETER = _os.environ.get("TRITON_INTERPRET") == "1"

"""The instructor's key store: one secret per course and one record per candidate.

Lives in the course's ignored folder `.inferlab/interview/` (the grader's sandbox
denies submissions that folder). A candidate's parameters follow from
HMAC-SHA256(secret, candidate | seed | track | level | slot), so the notebook a
candidate receives holds neither the answers nor anything they follow from; the
grader re-derives them from the secret. The sample interview (candidate
`sample`) uses a public secret: it is the course's worked example.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

TRACKS = ("rd", "eng", "research", "arch")
LEVELS = ("new-grad", "experienced")
SAMPLE = "sample"
SAMPLE_SECRET = b"inferlab sample interview: public, for the course's worked example"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_time(text: str, name: str = "time") -> datetime:
    """An ISO time (a trailing Z or no zone means UTC) as an aware UTC datetime."""
    try:
        t = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO time like 2026-12-01T09:00:00Z, got {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def check_candidate(candidate) -> str:
    if not isinstance(candidate, str) or not _ID.match(candidate):
        raise ValueError(f"candidate must be 1-64 letters, digits, '.', '_' or '-' (a file name), got {candidate!r}")
    return candidate


@dataclass(frozen=True)
class Record:
    """One candidate's interview: what the generator needs, plus the clock."""

    candidate: str
    track: str
    level: str
    minutes: int
    seed: int
    practice: bool
    released: str           # ISO UTC
    due: str | None         # ISO UTC; None in practice mode (no clock)
    choices: dict | None = None   # slot -> question kind, written question or coding task (drawn once, at `new`)

    def __post_init__(self):
        check_candidate(self.candidate)
        if self.track not in TRACKS:
            raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {self.track!r}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int) or not 30 <= self.minutes <= 240:
            raise ValueError(f"minutes must be an integer from 30 to 240, got {self.minutes!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @classmethod
    def new(cls, candidate, track, level="new-grad", minutes=90, seed=None, practice=False, released=None):
        seed = secrets.randbits(31) if seed is None else seed
        start = parse_time(released, "released") if released else utc_now()
        due = None if practice else (start + timedelta(minutes=minutes)).isoformat()
        return cls(candidate, track, level, minutes, seed, bool(practice), start.isoformat(), due)


SAMPLE_RECORD = Record(SAMPLE, "rd", "new-grad", 90, 0, False, "2026-01-01T09:00:00+00:00", "2026-01-01T10:30:00+00:00", {
    "q01": "kv_cache_bytes", "q02": "roofline_time", "q03": "flash_tiles", "q04": "paged_blocks", "q05": "policy_hits",
    "q06": "allreduce_time", "q07": "pipeline_bubble", "q08": "serving_metrics", "q09": "expected_accepted_tokens",
    "q10": "max_concurrent_sequences", "w1": "kv_cache_why", "w2": "pd_disagg", "w3": "latency_spike",
    "w4": "speculative", "code": "block_allocator"})


class KeyStore:
    """`<course>/.inferlab/interview/`: `secret.key` and `<candidate>.json` records."""

    def __init__(self, course: str | Path | None = None) -> None:
        base = course or os.environ.get("INFERLAB_COURSE") or os.getcwd()
        self.course = Path(base).resolve()
        self.dir = self.course / ".inferlab" / "interview"

    def secret(self, create: bool = False) -> bytes:
        path = self.dir / "secret.key"
        if not path.exists():
            if not create:
                raise LookupError(f"no interview key in {self.dir} (run `inferlab interview new` there first)")
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        return bytes.fromhex(path.read_text().strip())

    def save(self, record: Record) -> Path:
        if record.candidate == SAMPLE:
            raise ValueError(f"candidate {SAMPLE!r} is reserved for the course's sample interview")
        self.secret(create=True)
        path = self.dir / f"{record.candidate}.json"
        path.write_text(json.dumps(asdict(record), indent=1) + "\n")
        return path

    def load(self, candidate: str) -> Record:
        check_candidate(candidate)
        if candidate == SAMPLE:
            return SAMPLE_RECORD
        path = self.dir / f"{candidate}.json"
        if not path.exists():
            raise LookupError(f"no interview for candidate {candidate!r} in {self.dir}")
        return Record(**json.loads(path.read_text()))

    def has(self, candidate: str) -> bool:
        return candidate == SAMPLE or (self.dir / f"{candidate}.json").exists()

    def key_for(self, candidate: str) -> bytes:
        return SAMPLE_SECRET if candidate == SAMPLE else self.secret()


def stream(secret: bytes, record: Record, label: str) -> random.Random:
    """A random stream for one part of one interview, that only the secret's holder can reproduce."""
    msg = f"{record.candidate}|{record.seed}|{record.track}|{record.level}|{label}".encode()
    return random.Random(int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest(), "big"))

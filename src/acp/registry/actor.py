"""Who asked for a change, for the audit log (kept free of HTTP types)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    username: str
    request_id: str = ""

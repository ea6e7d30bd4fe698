"""Tombstones: a forgotten customer's data cannot come back through a write already on its way.

Forgetting deletes a profile, but a write may already be in flight: a conversation's closing
record waiting for its summary model, a ``remember`` retried, an analysis finishing. So
``forget`` first records a tombstone — when, under a hash of the number, never the number
itself — and every write checks it:

- memory writes (identifiers, traits, observations, a closed run's transcript and summary)
  keep only what happened after the tombstone: an observation or trait stamped before it is
  dropped; a closed run keeps the lines said after it, and no summary if any line went;
- intelligence writes (operator results, a run's facts) are dropped for an hour after it
  (longer than any analysis may take), since what they hold derives from what was said
  before it.

A write checks the tombstone before and after it writes: a forget that lands between the two
is followed by the writer deleting again, so the last word is always the forget's.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from switchboard.memory.models import ConversationRecord

DERIVED_QUIET = timedelta(hours=1)
"""After a forget, intelligence writes for that customer are dropped for this long."""


def customer_hash(number: str) -> str:
    """How a tombstone names a customer: a hash of the E.164 number."""
    return hashlib.sha256(f"tombstone\n{number}".encode()).hexdigest()


def after(forgotten: datetime | None, at: datetime) -> bool:
    """Whether something stamped ``at`` may be written despite the tombstone."""
    return forgotten is None or at > forgotten


def surviving(record: ConversationRecord, forgotten: datetime | None) -> ConversationRecord | None:
    """The part of a closed run that may be stored after a forget (None: nothing)."""
    if forgotten is None:
        return record
    lines = [line for line in record.transcript if line.at > forgotten]
    if not lines:
        return None
    kept = record.summary if len(lines) == len(record.transcript) else None
    return record.model_copy(update={"transcript": lines, "summary": kept})

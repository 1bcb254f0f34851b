"""Controller instance IDs: several operators in one cluster, each with its own objects.

Like Argo Rollouts' ``--instance-id`` and Flux's sharding label: an object
labelled ``shakedown.dev/instance-id=<X>`` is handled only by an operator
started with instance id X (``shakedown run --instance-id X`` or
``SHAKEDOWN_INSTANCE_ID``), and an operator without one handles only objects
without the label. Each operator is blind to the others' objects (kopf stores
no state on them and no runner starts), takes its own leader Lease and puts
its own finalizer, so two instances never contend. ``shakedown selftest``
runs a throwaway instance to prove that a build reconciles.

The instance id travels in kopf's memo (``MEMO_KEY``), which every handler
and filter is given: nothing lives in module globals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shakedown import GROUP

LABEL = f"{GROUP}/instance-id"
ENV = "SHAKEDOWN_INSTANCE_ID"
MEMO_KEY = "shakedown_instance_id"
#: Short enough that a Lease name, a finalizer and a label value all take it.
MAX_LENGTH = 40
_ID = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def problem(instance: str) -> str | None:
    """Why ``instance`` cannot be an instance id (None: it can)."""
    if len(instance) > MAX_LENGTH or not _ID.fullmatch(instance):
        return (
            f"{instance!r}: an instance id is lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {MAX_LENGTH} characters"
        )
    return None


def handles(labels: Mapping[str, Any] | None, instance: str | None) -> bool:
    """Whether the operator with ``instance`` (None: none) handles an object with ``labels``."""
    return ((labels or {}).get(LABEL) or None) == (instance or None)


def lease_name(base: str, instance: str | None) -> str:
    """The leader Lease of an instance: its own, so it never contends with the others."""
    return f"{base}-{instance}" if instance else base


def finalizer(base: str, instance: str | None) -> str:
    """The finalizer an instance puts on its objects (another instance's is not its to remove)."""
    return f"{base}-{instance}" if instance else base


def of_memo(memo: Mapping[str, Any] | Any) -> str | None:
    found = memo.get(MEMO_KEY) if isinstance(memo, Mapping) else getattr(memo, MEMO_KEY, None)
    return str(found) if found else None


def mine(labels: Mapping[str, Any] | None = None, memo: Any = None, **_: Any) -> bool:
    """kopf's ``when`` filter: this operator's objects only (the others stay untouched)."""
    return handles(labels, of_memo(memo))

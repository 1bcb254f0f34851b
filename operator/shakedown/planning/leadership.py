"""Leader election decisions: who may act, and until when.

Two replicas run; exactly one acts. They agree through one coordination.k8s.io
Lease, the way client-go's leader election does, and neither trusts the other's
clock: a candidate counts a Lease as expired only when it has seen the same
record, unchanged, for the Lease's whole duration on its *own* monotonic clock.
The leader in turn stops acting when it has not renewed within ``renew_deadline``,
counted from the moment it *sent* its last successful renewal. Since a
candidate sees that renewal only after it was sent, and
``renew_deadline < lease_duration``, the old leader has stopped before a
candidate can take over, also when the leader is cut off from the API server or
its process was paused (``CLOCK_MONOTONIC`` keeps counting while a process is
stopped, so a resumed leader finds its deadline passed).

Everything here is pure; ``adapters.leadership`` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts, how soon the leader gives up, how often it renews."""

    lease_duration: float = 10.0
    renew_deadline: float = 8.0
    retry_period: float = 2.0

    def problem(self) -> str | None:
        """Why these timings cannot keep two replicas from acting at once, if they cannot."""
        if self.retry_period <= 0:
            return "the retry period must be positive"
        if self.lease_duration < 1:
            return "the lease duration must be at least 1 second (a Lease holds whole seconds)"
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            return (
                "need retry period < renew deadline < lease duration "
                f"(got {self.retry_period:g} < {self.renew_deadline:g} < {self.lease_duration:g})"
            )
        return None


@dataclass(frozen=True)
class Record:
    """What a Lease says, as far as the election cares."""

    holder: str
    version: str  # metadata.resourceVersion: any write changes it
    duration: float  # spec.leaseDurationSeconds (the holder's, not ours)
    transitions: int = 0


@dataclass(frozen=True)
class Sighting:
    """A Lease record and when this process first saw it (its monotonic clock)."""

    record: Record | None  # None: there is no Lease
    since: float


@dataclass(frozen=True)
class Create:
    """There is no Lease: create it, holding it."""


@dataclass(frozen=True)
class Take:
    """Write ourselves into the Lease, if it is still at ``version`` (else someone was faster)."""

    version: str
    transitions: int


@dataclass(frozen=True)
class Wait:
    """Someone else holds the Lease; look again at ``until`` (monotonic) or on a change."""

    holder: str
    until: float


Move = Create | Take | Wait


def candidate_move(me: str, seen: Sighting, now: float) -> Move:
    """What a replica that does not lead does next, given the Lease it sees."""
    record = seen.record
    if record is None:
        return Create()
    if record.holder in ("", me):
        # Released on a clean shutdown (or ours from before): nobody acts on it.
        return Take(record.version, record.transitions + (record.holder != me))
    expires = seen.since + record.duration
    if now >= expires:
        return Take(record.version, record.transitions + 1)
    return Wait(record.holder, expires)


def leader_may_act(last_renewed_sent: float, now: float, timing: Timing) -> bool:
    """Whether the leader may still act: it renewed less than ``renew_deadline`` ago.

    ``last_renewed_sent`` is when the last successful write of the Lease was
    *sent*, not when its answer came: the candidates' count starts no earlier.
    """
    return now - last_renewed_sent < timing.renew_deadline


def renew_due(last_renewed_sent: float, timing: Timing) -> float:
    """When the leader next renews (monotonic)."""
    return last_renewed_sent + timing.retry_period

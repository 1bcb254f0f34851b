"""Leader election decisions: a standby takes over only after a whole Lease duration
of silence on its own clock, and a leader stops acting before that can happen."""

from __future__ import annotations

import pytest

from shakedown.planning.leadership import (
    Create,
    Record,
    Sighting,
    Take,
    Timing,
    Wait,
    candidate_move,
    leader_may_act,
    renew_due,
)

ME = "pod-b_7_abc"
OTHER = "pod-a_6_def"


def held(holder: str = OTHER, version: str = "41", transitions: int = 2) -> Record:
    return Record(holder=holder, version=version, duration=10, transitions=transitions)


def test_no_lease_is_created() -> None:
    assert candidate_move(ME, Sighting(None, since=5), now=5) == Create()


def test_a_held_lease_is_waited_for_a_whole_duration_from_when_it_was_seen() -> None:
    seen = Sighting(held(), since=100)
    assert candidate_move(ME, seen, now=109.9) == Wait(OTHER, until=110)
    # The holder's renewTime does not count (its clock is not ours): only our sighting.
    assert candidate_move(ME, seen, now=110) == Take(version="41", transitions=3)


def test_a_released_lease_is_taken_at_once() -> None:
    seen = Sighting(held(holder=""), since=100)
    assert candidate_move(ME, seen, now=100) == Take(version="41", transitions=3)


def test_our_own_lease_is_taken_back_without_a_transition() -> None:
    seen = Sighting(held(holder=ME), since=100)
    assert candidate_move(ME, seen, now=100) == Take(version="41", transitions=2)


def test_the_holders_duration_counts_not_ours() -> None:
    seen = Sighting(Record(OTHER, "9", duration=30), since=0)
    assert candidate_move(ME, seen, now=29) == Wait(OTHER, until=30)


def test_the_leader_stops_before_any_candidate_can_take_over() -> None:
    """The leader sent its last renewal at 100; a candidate saw it at 100 at the earliest."""
    timing = Timing()
    sent = 100.0
    candidate_takes_at = sent + timing.lease_duration
    assert leader_may_act(sent, sent + timing.renew_deadline - 0.01, timing)
    assert not leader_may_act(sent, sent + timing.renew_deadline, timing)
    assert sent + timing.renew_deadline < candidate_takes_at
    # A paused leader that resumes after the takeover finds its deadline long gone.
    assert not leader_may_act(sent, candidate_takes_at + 5, timing)


def test_the_leader_renews_every_retry_period() -> None:
    assert renew_due(100, Timing(retry_period=2)) == 102


@pytest.mark.parametrize(
    ("timing", "problem"),
    [
        (Timing(), None),
        (Timing(lease_duration=10, renew_deadline=10, retry_period=2), "renew deadline"),
        (Timing(lease_duration=10, renew_deadline=2, retry_period=2), "retry period <"),
        (Timing(retry_period=0), "positive"),
        (Timing(lease_duration=0.5, renew_deadline=0.4, retry_period=0.1), "at least 1 second"),
    ],
)
def test_timings_that_could_let_two_act_are_refused(timing: Timing, problem: str | None) -> None:
    found = timing.problem()
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found

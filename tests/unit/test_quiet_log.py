"""The operator's INFO log: routine wake-ups out, everything else as kopf wrote it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import kopf
import pytest

import shakedown.handlers  # registers the handlers
from shakedown.handlers import quiet


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in self.records]


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, Collect]]:
    """A logger like kopf's object logger, filtered as the operator filters that one."""
    log = logging.getLogger("shakedown-tests.kopf-objects")
    collect = Collect()
    log.addHandler(collect)
    log.propagate = False
    log.setLevel(logging.INFO)
    quiet.install(log.name)
    quiet.install(log.name)
    try:
        yield log, collect
    finally:
        log.removeHandler(collect)
        log.filters.clear()


def test_every_wake_handler_success_leaves_the_info_log(
    logger: tuple[logging.Logger, Collect],
) -> None:
    log, collect = logger
    watching = list(kopf.get_default_registry()._watching.get_all_handlers())
    assert {"wake-infrarollouts-leases", "wake-cir-pods"} <= {h.id for h in watching}
    for handler in watching:
        log.info(f"{handler} succeeded.")  # kopf's own wording, with the real handler
    assert collect.lines() == []
    assert sum(isinstance(f, quiet.RoutineWakeUps) for f in log.filters) == 1


def test_decisions_and_failures_stay(logger: tuple[logging.Logger, Collect]) -> None:
    log, collect = logger
    log.info("Handler 'finalize' succeeded.")
    log.info("ci/web: Shifting: revision 2: smoke tests passed")
    log.error("Handler 'wake-cir-pods' failed with an exception and will try again: boom")
    assert collect.lines() == [
        ("INFO", "Handler 'finalize' succeeded."),
        ("INFO", "ci/web: Shifting: revision 2: smoke tests passed"),
        ("ERROR", "Handler 'wake-cir-pods' failed with an exception and will try again: boom"),
    ]


def test_verbose_shows_wake_ups_as_debug(logger: tuple[logging.Logger, Collect]) -> None:
    log, collect = logger
    log.setLevel(logging.DEBUG)
    log.info("Handler 'wake-infrarollouts-leases' succeeded.")
    assert collect.lines() == [("DEBUG", "Handler 'wake-infrarollouts-leases' succeeded.")]


def test_the_operator_filters_kopfs_object_logger() -> None:
    kopf_objects = logging.getLogger(quiet.KOPF_OBJECTS)
    before = list(kopf_objects.filters)
    try:
        shakedown.handlers.configure(  # called as kopf calls a startup handler
            settings=kopf.OperatorSettings(),
            retry=0,
            started=datetime.now(UTC),
            runtime=timedelta(0),
            logger=logging.getLogger("test"),
            memo=kopf.Memo(),
        )
        assert any(isinstance(f, quiet.RoutineWakeUps) for f in kopf_objects.filters)
    finally:
        kopf_objects.filters[:] = before

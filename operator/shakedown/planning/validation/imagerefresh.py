"""Checks of a ContainerImageRefresh spec that its CRD schema cannot express."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.planning.validation.problems import Problem, check_duration_positive, parse

_BUILD_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_schedule(
    schedule: str | None, time_zone: str, *, now: datetime | None = None
) -> list[Problem]:
    """The time zone exists and the cron expression fires at least once in the years ahead."""
    problems: list[Problem] = []
    try:
        zone: zoneinfo.ZoneInfo | None = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None
        problems.append(
            Problem(
                field="spec.timeZone",
                message=f"unknown time zone {time_zone!r} (use an IANA name such as "
                "UTC or Europe/Berlin)",
            )
        )
    if schedule is None:
        return problems
    start = (now or datetime.now(UTC)).astimezone(zone or UTC)
    try:
        croniter(schedule, start).get_next(datetime)
    except CroniterBadDateError:
        problems.append(
            Problem(
                field="spec.schedule",
                message=f"{schedule!r} never fires (no such date, e.g. 30 February)",
            )
        )
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        problems.append(
            Problem(field="spec.schedule", message=f"{schedule!r} is not a cron expression: {exc}")
        )
    return problems


def check_image_refresh(
    spec: ContainerImageRefreshSpec, *, now: datetime | None = None
) -> tuple[Problem, ...]:
    problems = check_schedule(spec.schedule, spec.time_zone, now=now)
    for name in spec.source.build_args:
        if not _BUILD_ARG.match(name):
            problems.append(
                Problem(
                    field=f"spec.source.buildArgs.{name}",
                    message="build argument names are letters, digits and _",
                )
            )
    problems += check_duration_positive(spec.build_timeout, "spec.buildTimeout")
    for index, test in enumerate(spec.tests):
        base = f"spec.tests[{index}]"
        problems += check_duration_positive(test.timeout, f"{base}.timeout")
        seen: set[str] = set()
        for env_index, env in enumerate(test.env):
            if env.name in seen:
                problems.append(
                    Problem(
                        field=f"{base}.env[{env_index}].name",
                        message=f"duplicate variable {env.name!r}",
                    )
                )
            seen.add(env.name)
    return tuple(problems)


def validate_image_refresh(
    raw_spec: Mapping[str, Any] | None, *, now: datetime | None = None
) -> tuple[ContainerImageRefreshSpec | None, tuple[Problem, ...]]:
    """Parse and check a ContainerImageRefresh spec."""
    spec, problems = parse(ContainerImageRefreshSpec, raw_spec)
    if spec is None:
        return None, problems
    return spec, check_image_refresh(spec, now=now)

"""Semantic checks of a spec: what the CRD schema cannot say.

The API server refuses malformed objects (patterns, enums, CEL rules). What it
lets through but the operator cannot act on — a cron expression that parses but
never fires, a time zone that does not exist, a target kind a strategy cannot
shift, a patch that does not fit its type — is found here. Every problem names
the field path (``spec.targets[1].kind``) so the Stalled condition tells the
user exactly what to fix.

Pure: a raw spec mapping (or a parsed model) in, a tuple of ``Problem`` out.
``problems`` holds what both kinds share; one module per kind holds its checks.
"""

from shakedown.planning.validation.imagerefresh import (
    check_image_refresh,
    check_schedule,
    validate_image_refresh,
)
from shakedown.planning.validation.infrarollout import (
    STRATEGY_KINDS,
    check_image_containers,
    check_infra_rollout,
    check_metric_templates,
    template_refs,
    validate_infra_rollout,
)
from shakedown.planning.validation.problems import (
    INVALID_SPEC,
    Problem,
    check_duration_positive,
    field_path,
    parse,
    summarize,
)

__all__ = [
    "INVALID_SPEC",
    "STRATEGY_KINDS",
    "Problem",
    "check_duration_positive",
    "check_image_containers",
    "check_image_refresh",
    "check_infra_rollout",
    "check_metric_templates",
    "check_schedule",
    "field_path",
    "parse",
    "summarize",
    "template_refs",
    "validate_image_refresh",
    "validate_infra_rollout",
]

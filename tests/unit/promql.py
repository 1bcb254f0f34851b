"""What the alert-rule and dashboard tests share: promtool, and metric names in PromQL.

promtool comes with Debian's ``prometheus`` package, installed by the project's
own installer (``shakedown.localcluster.packages``, idempotent) as the
Prometheus fixture of the cluster tests does.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from shakedown.localcluster import packages

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"
RULES = CHART / "rules" / "shakedown.rules.yaml"
DASHBOARD = CHART / "dashboards" / "shakedown.json"
PROMTOOL = "/usr/bin/promtool"

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_VARIABLES = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right"}
)
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def promtool() -> str:
    """The promtool binary, installed from Debian's prometheus package when missing."""
    packages.ensure({"prometheus": PROMTOOL}, say=print)
    return PROMTOOL


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _STRINGS.sub('""', expr)
    text = _VARIABLES.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _GROUPINGS.sub("", text)
    text = _RANGES.sub("", text)
    return {
        match.group(1)
        for match in _IDENTIFIER.finditer(text)
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS
    }


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry's metrics expose, labelled children or not yet."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def operator_metric_names() -> set[str]:
    """What shakedown's operator exports: both kinds' modules registered on REGISTRY."""
    from shakedown.metrics import REGISTRY, imagerefresh, infrarollout  # noqa: F401

    return exported_names(REGISTRY)

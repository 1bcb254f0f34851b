"""The build pod's one-line report: what was pushed, from which commit and bases.

The build Job (``shakedown.adapters.builder``) writes it to its termination
message; the Job observer (``shakedown.adapters.jobs``) reads it back. It lives
apart from both so that neither of them imports the other.
"""

from __future__ import annotations

import json
import re
import shlex

from shakedown.planning.imagerefresh.observed import BuildReport

_STAGE_RE = re.compile(r"\s+as\s+(\S+)\s*$", re.IGNORECASE)


def parse_report(message: str) -> BuildReport | None:
    """The build pod's report, or None when the message is not one."""
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    digest = str(doc.get("digest") or "").strip() or None
    revision = str(doc.get("revision") or "").strip() or None
    return BuildReport(
        digest=digest,
        revision=revision,
        base_images=dict.fromkeys(base_images(str(doc.get("from") or "")), ""),
    )


def base_images(from_lines: str) -> list[str]:
    """Registry images named by FROM lines (``|``-separated), without stages and ``scratch``."""
    stages: set[str] = set()
    images: list[str] = []
    for line in from_lines.split("|"):
        words = shlex.split(line.strip(), posix=True) if line.strip() else []
        if not words or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if not args:
            continue
        ref = args[0]
        match = _STAGE_RE.search(line)
        if match:
            stages.add(match.group(1).lower())
        if ref.lower() == "scratch" or ref.lower() in stages or "$" in ref:
            continue
        if ref not in images:
            images.append(ref)
    return images

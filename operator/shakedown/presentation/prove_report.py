"""How ``shakedown prove`` judges its copies and tells a CI system about them.

Each prove-only copy ends Validated (proven) or Failed; until then it is
pending. ``observe`` folds every status the CLI reads into an ``Outcome``,
keeping scenarios that status drops again (a refresh clears
``currentRun.tests`` when the run ends), so the report lists every scenario
that ran, not only the failing ones. The renderers turn outcomes into a
progress line, a Markdown step summary and JUnit XML.

Pure: objects and outcomes in, text out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from shakedown.api.imagerefresh import RunPhase
from shakedown.api.infrarollout import RolloutPhase
from shakedown.presentation.prove_plan import SHORT
from shakedown.presentation.reading import observed, seconds_between

Obj = Mapping[str, Any]

_IRO_FAILED = frozenset(p.value for p in RolloutPhase if p.failed)
_IRO_PROVEN = frozenset(p.value for p in RolloutPhase if p.finished and not p.failed)
_CIR_FAILED = frozenset(p.value for p in RunPhase if p.failed)
_CIR_PROVEN = frozenset(p.value for p in RunPhase if p.finished and not p.failed)
#: Lines of a log tail shown on the terminal and in the summary (JUnit gets all kept).
TAIL_LINES = 30


class Verdict(StrEnum):
    PENDING = "Pending"
    PROVEN = "Proven"
    FAILED = "Failed"


@dataclass(frozen=True)
class Scenario:
    """A test scenario (refresh) or smoke check (rollout) of one copy."""

    name: str
    phase: str
    kind: str = ""
    message: str = ""
    seconds: float | None = None
    log_tail: str = ""
    started_at: str | None = None

    @property
    def failed(self) -> bool:
        return self.phase in ("Failed", "Error")


@dataclass(frozen=True)
class Outcome:
    """What is known about one copy."""

    kind: str
    original: str
    name: str
    namespace: str
    source: str
    verdict: Verdict = Verdict.PENDING
    phase: str = "Pending"
    message: str = ""
    seconds: float | None = None
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        return f"{SHORT.get(self.kind, self.kind)}/{self.original}"

    def with_log(self, scenario: str, tail: str) -> Outcome:
        scenarios = tuple(
            replace(s, log_tail=tail) if s.name == scenario else s for s in self.scenarios
        )
        return replace(self, scenarios=scenarios)


# --------------------------------------------------------------------------- judging
def _merge(old: Sequence[Scenario], new: Iterable[Scenario]) -> tuple[Scenario, ...]:
    by_name = {s.name: s for s in old}
    for s in new:
        kept = by_name.get(s.name)
        tail = s.log_tail or (kept.log_tail if kept else "")
        by_name[s.name] = replace(s, log_tail=tail)
    return tuple(by_name.values())


def _until(scenarios: Sequence[Scenario], ended: Any) -> tuple[Scenario, ...]:
    """Durations status no longer holds (a finished run drops its tests' end times): until
    the end of the run or revision, which is when they were last known to be running."""
    return tuple(
        replace(s, seconds=seconds_between(s.started_at, ended))
        if s.seconds is None and s.started_at
        else s
        for s in scenarios
    )


def _stalled(status: Obj) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            return dict(cond)
    return None


def observe(outcome: Outcome, obj: Obj) -> Outcome:
    """``outcome`` updated with what ``obj`` (the copy as last read) says."""
    status: Obj = obj.get("status") or {}
    if not observed(obj):
        return replace(outcome, message="waiting for the operator")
    if outcome.kind == "InfraRollout":
        return _observe_rollout(outcome, status)
    return _observe_refresh(outcome, status, obj.get("spec") or {})


def _observe_rollout(outcome: Outcome, status: Obj) -> Outcome:
    phase = str(status.get("phase") or "Pending")
    revision = int(status.get("revision") or 0)
    checks = [
        Scenario(
            name=str(c.get("name")),
            phase=str(c.get("phase") or "Pending"),
            kind=str(c.get("type") or ""),
            message=str(c.get("message") or ""),
            seconds=seconds_between(c.get("startedAt"), c.get("finishedAt")),
            started_at=c.get("startedAt"),
        )
        for c in status.get("checks") or []
    ]
    message = str(status.get("message") or status.get("waitingFor") or "")
    verdict = Verdict.PENDING
    if revision > 0 and phase in _IRO_PROVEN:
        verdict = Verdict.PROVEN
    elif revision > 0 and phase in _IRO_FAILED:
        verdict = Verdict.FAILED
    elif (stalled := _stalled(status)) is not None:
        verdict, message = Verdict.FAILED, f"Stalled: {stalled.get('message')}"
    scenarios = _merge(outcome.scenarios, checks)
    if verdict is not Verdict.PENDING:
        scenarios = _until(scenarios, status.get("phaseStartedAt"))
    return replace(outcome, verdict=verdict, phase=phase, message=message, scenarios=scenarios)


def _observe_refresh(outcome: Outcome, status: Obj, spec: Obj) -> Outcome:
    current = status.get("currentRun")
    last = status.get("lastRun") or {}
    run = current or last
    tests = [
        Scenario(
            name=str(t.get("name")),
            phase=str(t.get("phase") or "Pending"),
            kind="Test",
            message=str(t.get("reason") or ""),
            seconds=seconds_between(t.get("startedAt"), t.get("finishedAt")),
            started_at=t.get("startedAt"),
            log_tail=str(t.get("logTail") or ""),
        )
        for t in (current or {}).get("tests") or []
    ]
    if not current:
        # A finished run keeps only its failures; the passing ones were seen while it ran.
        tests += [
            Scenario(
                name=str(t.get("name")),
                phase="Failed",
                kind="Test",
                message=str(t.get("reason") or ""),
                seconds=next(
                    (s.seconds for s in outcome.scenarios if s.name == t.get("name")), None
                ),
                log_tail=str(t.get("logTail") or ""),
            )
            for t in last.get("failedTests") or []
        ]
    phase = str(run.get("phase") or "Pending")
    message = str(run.get("message") or "")
    verdict = Verdict.PENDING
    if not current and last and phase in _CIR_PROVEN:
        verdict = Verdict.PROVEN
    elif not current and last and phase in _CIR_FAILED:
        verdict = Verdict.FAILED
    elif not current and (stalled := _stalled(status)) is not None:
        verdict, message = Verdict.FAILED, f"Stalled: {stalled.get('message')}"
    scenarios = _merge(outcome.scenarios, tests)
    if verdict is Verdict.PROVEN:  # every test passed, also those last seen running
        scenarios = tuple(
            replace(s, phase="Passed") if s.phase in ("Pending", "Running") else s
            for s in scenarios
        )
        # and those of a run that ended before any status listing them was read
        seen = {s.name for s in scenarios}
        scenarios += tuple(
            Scenario(name=str(t.get("name")), phase="Passed", kind="Test")
            for t in spec.get("tests") or []
            if isinstance(t, Mapping) and t.get("name") and str(t.get("name")) not in seen
        )
    if verdict is not Verdict.PENDING:
        scenarios = _until(scenarios, last.get("finishedAt"))
    return replace(outcome, verdict=verdict, phase=phase, message=message, scenarios=scenarios)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 every copy proven; 1 one failed; 2 one never finished (timeout)."""
    if any(o.verdict is Verdict.FAILED for o in outcomes):
        return 1
    if outcomes and all(o.verdict is Verdict.PROVEN for o in outcomes):
        return 0
    return 2


# --------------------------------------------------------------------------- terminal
def progress_key(outcome: Outcome) -> tuple[str, ...]:
    return (outcome.phase, outcome.verdict, *(f"{s.name}={s.phase}" for s in outcome.scenarios))


def progress_line(outcome: Outcome, elapsed: float) -> str:
    """One line per change, like ``kubectl argo rollouts get --watch``."""
    parts = [f"{s.name} {s.phase}" for s in outcome.scenarios]
    detail = ", ".join(parts)
    if outcome.message and (outcome.verdict is not Verdict.PENDING or not parts):
        detail = f"{detail} · {outcome.message}" if detail else outcome.message
    detail = " ⏎ ".join(detail.splitlines())  # one line per change, whatever a message holds
    return f"[{elapsed:5.0f}s] {outcome.ref:<28} {outcome.phase:<13} {detail}".rstrip()


def tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = text.rstrip("\n").splitlines()
    return "\n".join(kept[-lines:])


def failure_report(outcome: Outcome) -> list[str]:
    """The lines a person reads about a failed copy: its message, failing scenarios, tails."""
    head = f"{outcome.ref} ({outcome.namespace}/{outcome.name}) {outcome.phase}: "
    out = _indented(head + outcome.message, "    ")
    for s in outcome.scenarios:
        if not s.failed:
            continue
        what = s.kind.lower() or "check"
        out += _indented(f"  {what} {s.name} {s.phase}: {s.message or '-'}", "    ")
        if s.log_tail:
            out.append(f"  --- log tail of {s.name} ---")
            out += [f"  | {line}" for line in tail(s.log_tail).splitlines()]
    return out


def _indented(text: str, indent: str) -> list[str]:
    first, *rest = text.splitlines() or [""]
    return [first, *(indent + line for line in rest)]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


# --------------------------------------------------------------------------- summary
_ICON = {Verdict.PROVEN: "✅", Verdict.FAILED: "❌", Verdict.PENDING: "⏳"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_summary(outcomes: Sequence[Outcome], *, prove_id: str, note: str = "") -> str:
    """Markdown for a CI step summary (GitHub's ``$GITHUB_STEP_SUMMARY`` and the like)."""
    code = exit_code(outcomes)
    headline = {0: "proven", 1: "failed", 2: "not finished"}[code]
    lines = [f"## shakedown prove `{prove_id}`: {headline}", ""]
    if note:
        lines += [note, ""]
    lines += [
        "| object | source | copy | verdict | phase | duration | scenarios |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        passed = sum(1 for s in o.scenarios if s.phase == "Passed")
        scenarios = f"{passed}/{len(o.scenarios)} passed" if o.scenarios else "-"
        lines.append(
            f"| `{o.ref}` | {_cell(o.source)} | `{o.namespace}/{o.name}` | "
            f"{_ICON[o.verdict]} {o.verdict} | {o.phase} | {_duration(o.seconds)} | {scenarios} |"
        )
    for o in outcomes:
        if o.verdict is not Verdict.FAILED and not any(s.failed for s in o.scenarios):
            continue
        lines += ["", f"### {o.ref}: {o.phase}", "", _cell(o.message) or "-"]
        for s in o.scenarios:
            if not s.failed:
                continue
            lines += [
                "",
                f"**{s.kind.lower() or 'check'} `{s.name}`** {s.phase}: {_cell(s.message)}",
            ]
            if s.log_tail:
                lines += [
                    "",
                    "<details open><summary>log tail</summary>",
                    "",
                    "```text",
                    tail(s.log_tail).replace("```", "` ` `"),
                    "```",
                    "",
                    "</details>",
                ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- junit
def render_junit(outcomes: Sequence[Outcome], *, prove_id: str) -> str:
    """JUnit XML: a suite per copy, a test case for the copy and one per scenario."""
    root = ET.Element("testsuites", name=f"shakedown prove {prove_id}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for o in outcomes:
        suite = ET.SubElement(root, "testsuite", name=o.ref)
        cases: list[tuple[str, float | None, str | None, str, str]] = []
        verdict_failure = None if o.verdict is Verdict.PROVEN else o.message or o.phase
        cases.append((o.original, o.seconds, verdict_failure, "", o.verdict))
        for s in o.scenarios:
            failure = (s.message or s.phase) if s.failed else None
            if s.phase not in ("Passed", "Failed", "Error") and o.verdict is not Verdict.PROVEN:
                failure = failure or f"did not finish ({s.phase})"
            cases.append((s.name, s.seconds, failure, s.log_tail, s.phase))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for name, seconds, failure, log, phase in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=o.ref.replace("/", "."),
                name=name,
                time=f"{seconds or 0:.3f}",
            )
            counts["tests"] += 1
            if failure is not None:
                tag = "failure" if o.verdict is not Verdict.PENDING else "error"
                node = ET.SubElement(case, tag, message=failure[:1000], type=phase)
                node.text = log or failure
                counts["failures" if tag == "failure" else "errors"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{o.seconds or 0:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

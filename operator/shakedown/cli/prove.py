"""``shakedown prove -f FILE...``: prove a pull request's refreshes and rollouts, for any CI.

A CI job checks out the pull request and runs this. It creates prove-only
copies (``promote: false``, renamed for ``--id``) of every ContainerImageRefresh
and InfraRollout in the files, follows them to their verdict, prints what
failed with its log tail, writes a Markdown summary and JUnit XML, and
deletes what it created, on Ctrl-C and SIGTERM too. Exit codes:

    0  every copy was proven (Validated)
    1  a change failed (a build, a test scenario, a smoke check)
    2  invalid input (nothing is created then), the cluster or a registry
       cannot be reached, or ``--timeout`` ran out
    130 / 143  interrupted by SIGINT / SIGTERM (after cleaning up)

Everything is validated before anything is created: the API server dry-runs
each copy (so its schema and CEL errors name the field), the operator's own
semantic checks run locally, and every InfraRollout target must exist.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from shakedown.api.common import parse_duration
from shakedown.cli.commands import add_command
from shakedown.cli.kube import add_namespace
from shakedown.cli.main import UserError
from shakedown.cli.prove_inputs import make_plan, read_inputs
from shakedown.presentation import prove_plan as plan
from shakedown.presentation import prove_report as report
from shakedown.presentation.prove_report import Outcome, Verdict

POLL_SECONDS = 1.0
#: How long reading the copies may keep failing before prove gives up (exit 2).
API_PATIENCE_SECONDS = 30.0


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "prove")
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        metavar="FILE",
        help="a YAML file (multi-document), a directory (*.yaml, *.yml, *.json) or - for stdin",
    )
    parser.add_argument(
        "--id", required=True, help="what makes the copies unique: a PR number or commit"
    )
    add_namespace(parser, help="for objects without one")
    parser.add_argument(
        "--revision", metavar="SHA", help="build this Git revision (overrides source.git.revision)"
    )
    parser.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="build a refresh from this local directory (flat, at most "
        f"{plan.MAX_CONTEXT_BYTES} bytes) instead of its source; NAME= picks the refresh",
    )
    parser.add_argument("--summary", metavar="FILE", help="write a Markdown summary here")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    parser.add_argument("--timeout", default="30m", help="give up after this long (default 30m)")
    parser.add_argument(
        "--cleanup-timeout", default="2m", help="how long to wait for deletion (default 2m)"
    )
    parser.add_argument(
        "--skip-registry-check",
        action="store_true",
        help="do not check from here that the refreshes' registries answer",
    )
    parser.set_defaults(func=run)


def _seconds(flag: str, value: str) -> float:
    try:
        seconds = float(parse_duration(value))
    except ValueError as exc:
        raise UserError(f"{flag} {value}: {exc}") from None
    if seconds <= 0:
        raise UserError(f"{flag} {value}: must be more than 0s")
    return seconds


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    prove_id = str(args.id)
    plan.slug(prove_id)
    timeout = _seconds("--timeout", args.timeout)
    cleanup_timeout = _seconds("--cleanup-timeout", args.cleanup_timeout)
    manifests = read_inputs(args.files)
    from shakedown.cli.kube import current_namespace

    default_ns = args.namespace or current_namespace()
    namespace_of = {
        m.source: str((m.obj.get("metadata") or {}).get("namespace") or default_ns)
        for m in manifests
    }
    plan.check_unique(manifests, namespace_of)
    planned = make_plan(manifests, namespace_of, prove_id, args.revision, args.context)

    from shakedown.cli.prove_cluster import Cluster, validate

    cluster = Cluster.connect()
    cluster.reachable()
    namespaces = set(namespace_of.values())
    selector = plan.selector(prove_id)
    if cluster.leftovers(namespaces, selector):
        say(out, f"removing what an earlier `shakedown prove --id {prove_id}` left")
        cluster.delete_all(namespaces, selector, timeout=cleanup_timeout, say=lambda t: None)
    problems = validate(cluster, planned, check_registries=not args.skip_registry_check)
    if problems:
        for problem in problems:
            print(f"shakedown: {problem}", file=sys.stderr)
        print("shakedown: nothing was created", file=sys.stderr)
        return 2

    outcomes = [
        Outcome(
            kind=p.manifest.kind,
            original=p.manifest.name,
            name=p.copy["metadata"]["name"],
            namespace=p.copy["metadata"]["namespace"],
            source=p.manifest.source,
        )
        for p in planned
    ]
    interrupted: Interrupted | None = None
    lost = ""
    note = ""
    stopping: tuple[type[Exception], ...] = (UserError, *cluster_errors())
    with handling_signals(out) as signals:
        try:
            for p, o in zip(planned, outcomes, strict=True):
                if p.context is not None:
                    cluster.create(p.context)
                cluster.create(p.copy)
                say(out, f"proving {o.ref} ({p.manifest.source}) as {o.namespace}/{o.name}")
            outcomes = follow(cluster, outcomes, timeout=timeout, out=out)
            signals.raising = False
            if any(o.verdict is Verdict.PENDING for o in outcomes):
                note = f"Timed out after {args.timeout}."
                print(f"shakedown: timed out after {args.timeout}", file=sys.stderr)
        except Interrupted as exc:
            signals.raising = False
            interrupted = exc
            note = f"Interrupted ({exc}) before every verdict was in."
            print(f"shakedown: interrupted ({exc}): deleting what prove created", file=sys.stderr)
        except stopping as exc:
            signals.raising = False
            lost = _one_line(exc)
            note = f"Stopped: {lost}"
            print(f"shakedown: {lost}", file=sys.stderr)
        finally:
            signals.raising = False
            for o in outcomes:
                if o.verdict is Verdict.FAILED:
                    for line in report.failure_report(o):
                        print(line, file=out)
            write_reports(args, outcomes, prove_id, note)
            clean_up(cluster, namespaces, selector, cleanup_timeout, args.cleanup_timeout, out)
    if interrupted is not None:
        return 128 + interrupted.signum
    if lost:
        return 2
    code = report.exit_code(outcomes)
    verdict = {0: "proven", 1: "failed", 2: "not finished"}[code]
    say(out, f"verdict: {verdict}")
    return code


def cluster_errors() -> tuple[type[Exception], ...]:
    """What talking to the API server can raise mid-run: a refusal or a lost connection."""
    from shakedown.adapters.apiserver import ApiError
    from shakedown.adapters.kubeclient import ApiException, HTTPError
    from shakedown.adapters.workloads import Conflict

    return (ApiException, ApiError, HTTPError, OSError, Conflict)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    from shakedown.adapters.apiserver import ApiError
    from shakedown.adapters.kubeclient import ApiException
    from shakedown.cli.kube import unreachable

    if isinstance(exc, ApiException | ApiError) and exc.status:
        return f"the API server refused: {exc.status} {exc.reason}"
    return unreachable(exc)


def clean_up(
    cluster: Any, namespaces: set[str], selector: str, timeout: float, given: str, out: TextIO
) -> None:
    """Delete the copies; when that fails too, say how to do it by hand."""
    try:
        left = cluster.delete_all(namespaces, selector, timeout=timeout, say=lambda t: say(out, t))
    except cluster_errors() as exc:
        where = " ".join(f"-n {ns}" for ns in sorted(namespaces))
        print(
            f"shakedown: could not delete the copies ({_one_line(exc)}); run: kubectl delete "
            f"infrarollouts,containerimagerefreshes,configmaps -l {selector} {where}",
            file=sys.stderr,
        )
        return
    if left:
        print(f"shakedown: still there after {given}: {', '.join(left)}", file=sys.stderr)
    else:
        say(out, "deleted everything prove created")


def say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


# --------------------------------------------------------------------------- following
def follow(cluster: Any, outcomes: list[Outcome], *, timeout: float, out: TextIO) -> list[Outcome]:
    """Read each copy until all have a verdict or ``timeout``; print a line per change."""
    start = time.monotonic()
    shown: dict[int, tuple[str, ...]] = {}
    tried_logs: set[tuple[int, str]] = set()
    failing_since: float | None = None
    while time.monotonic() - start < timeout:
        for i, o in enumerate(outcomes):
            if o.verdict is not Verdict.PENDING:
                continue
            try:
                obj = cluster.get(o.kind, o.namespace, o.name)
            except cluster_errors() as exc:
                # A short hiccup of the API server must not fail a CI job; a long one does.
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > API_PATIENCE_SECONDS:
                    raise UserError(f"lost the cluster: {_one_line(exc)}") from None
                continue
            failing_since = None
            if obj is None:
                new = replace(o, verdict=Verdict.FAILED, message="deleted while being proven")
            else:
                new = report.observe(o, obj)
                for s in new.scenarios:
                    wanted = s.failed and s.kind == "Job" and not s.log_tail
                    if wanted and (i, s.name) not in tried_logs:
                        tried_logs.add((i, s.name))
                        new = new.with_log(s.name, cluster.job_log_tail(obj, s.name))
            elapsed = time.monotonic() - start
            if new.verdict is not Verdict.PENDING:
                new = replace(new, seconds=elapsed)
            outcomes[i] = new
            key = report.progress_key(new)
            if shown.get(i) != key:
                shown[i] = key
                say(out, report.progress_line(new, elapsed))
        if all(o.verdict is not Verdict.PENDING for o in outcomes):
            break
        time.sleep(POLL_SECONDS)
    return outcomes


def write_reports(
    args: argparse.Namespace, outcomes: Sequence[Outcome], prove_id: str, note: str
) -> None:
    texts = {
        "--summary": (args.summary, report.render_summary(outcomes, prove_id=prove_id, note=note)),
        "--junit": (args.junit, report.render_junit(outcomes, prove_id=prove_id)),
    }
    for flag, (path, text) in texts.items():
        if not path:
            continue
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"shakedown: {flag} {path}: cannot write: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- signals
class Signals:
    """SIGINT and SIGTERM raise ``Interrupted`` while ``raising``; later they only say so.

    Once the copies are being deleted (bounded by --cleanup-timeout), a second
    Ctrl-C must not cut the cleanup short and leave copies or a Terminating
    shadow namespace behind.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.raising = True

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.raising:
            self.raising = False
            raise Interrupted(signum)
        say(self.out, f"{signal.Signals(signum).name}: still deleting what prove created")


@contextmanager
def handling_signals(out: TextIO) -> Iterator[Signals]:
    signals = Signals(out)
    old = {s: signal.signal(s, signals) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for s, h in old.items():
            signal.signal(s, h)

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
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from shakedown.api.common import parse_duration
from shakedown.cli.main import UserError
from shakedown.presentation import prove_plan as plan
from shakedown.presentation import prove_report as report
from shakedown.presentation.prove_report import Outcome, Verdict

POLL_SECONDS = 1.0
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Planned:
    """One input and what proving it creates."""

    manifest: plan.Manifest
    copy: dict[str, Any]
    context: dict[str, Any] | None = None


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "prove",
        help="prove a pull request's cir/iro manifests with prove-only copies; exit code = verdict",
        description=(
            "Create prove-only copies (promote: false, named for --id) of the "
            "ContainerImageRefresh and InfraRollout manifests in FILEs, follow them to their "
            "verdict, report, and delete them again (also on Ctrl-C or SIGTERM)."
        ),
        epilog="exit codes: 0 all proven; 1 a change failed; 2 invalid input (nothing created), "
        "cluster or registry unreachable, or timeout; 130/143 interrupted",
    )
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
    parser.add_argument("-n", "--namespace", metavar="NS", help="for objects without one")
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

    from shakedown.cli.prove_cluster import Cluster

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
    note = ""
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
        finally:
            signals.raising = False
            for o in outcomes:
                if o.verdict is Verdict.FAILED:
                    for line in report.failure_report(o):
                        print(line, file=out)
            write_reports(args, outcomes, prove_id, note)
            left = cluster.delete_all(
                namespaces, selector, timeout=cleanup_timeout, say=lambda t: say(out, t)
            )
            if left:
                print(
                    f"shakedown: still there after {args.cleanup_timeout}: {', '.join(left)}",
                    file=sys.stderr,
                )
            else:
                say(out, "deleted everything prove created")
    if interrupted is not None:
        return 128 + interrupted.signum
    code = report.exit_code(outcomes)
    verdict = {0: "proven", 1: "failed", 2: "not finished"}[code]
    say(out, f"verdict: {verdict}")
    return code


def say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


# --------------------------------------------------------------------------- inputs
def read_inputs(paths: Sequence[str]) -> list[plan.Manifest]:
    found: list[plan.Manifest] = []
    for given in paths:
        if given == "-":
            found += plan.parse_documents(sys.stdin.read(), "<stdin>")[0]
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.suffix in _SUFFIXES and f.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise UserError(f"-f {given}: no such file or directory")
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"-f {file}: cannot read: {exc}") from None
            found += plan.parse_documents(text, str(file))[0]
    if not found:
        raise UserError(f"no ContainerImageRefresh or InfraRollout in {', '.join(paths)}")
    return found


def read_context(directory: str) -> dict[str, bytes]:
    """The files of a flat build context, refusing it before reading past the size limit."""
    path = Path(directory)
    if not path.is_dir():
        raise UserError(f"--context {directory}: not a directory")
    files: dict[str, bytes] = {}
    size = 0
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            raise UserError(
                f"--context {directory}: {entry.name}/ is a directory; a local context must be "
                "flat (its files travel as the keys of one ConfigMap)"
            )
        size += entry.stat().st_size
        if size > plan.MAX_CONTEXT_BYTES:
            raise UserError(
                f"--context {directory}: more than {plan.MAX_CONTEXT_BYTES} bytes, the limit "
                "for a local build context (it travels in one ConfigMap, which Kubernetes "
                "limits to 1 MiB); build from Git with --revision instead"
            )
        files[entry.name] = entry.read_bytes()
    return files


def make_plan(
    manifests: Sequence[plan.Manifest],
    namespace_of: dict[str, str],
    prove_id: str,
    revision: str | None,
    contexts: Sequence[str],
) -> list[Planned]:
    refreshes = [m for m in manifests if m.kind == "ContainerImageRefresh"]
    by_name: dict[str, str] = {}
    for given in contexts:
        name, eq, directory = given.rpartition("=")
        if not eq:
            if len(refreshes) != 1:
                raise UserError(
                    f"--context {given}: {len(refreshes)} ContainerImageRefreshes in the input; "
                    "say which with --context NAME=DIR"
                )
            name = refreshes[0].name
        if name not in {m.name for m in refreshes}:
            raise UserError(f"--context {given}: no ContainerImageRefresh {name!r} in the input")
        by_name[name] = directory
    if revision is not None and not any(
        ((m.obj.get("spec") or {}).get("source") or {}).get("git") for m in refreshes
    ):
        raise UserError("--revision: no ContainerImageRefresh with source.git in the input")
    out = []
    for m in manifests:
        ns = namespace_of[m.source]
        context = None
        if m.name in by_name and m.kind == "ContainerImageRefresh":
            files = read_context(by_name[m.name])
            containerfile = plan.containerfile_of(m)
            if containerfile not in files:
                raise UserError(
                    f"--context {by_name[m.name]}: no {containerfile} in it "
                    f"(spec.source.containerfile of {m.ref})"
                )
            context = plan.pack_context(
                files,
                name=plan.context_name(m.name, prove_id),
                namespace=ns,
                prove_id=prove_id,
                where=by_name[m.name],
            )
        copy = plan.prove_copy(
            m,
            prove_id=prove_id,
            namespace=ns,
            revision=revision,
            context_config_map=context["metadata"]["name"] if context else None,
        )
        out.append(Planned(m, copy, context))
    return out


# --------------------------------------------------------------------------- validation
def validate(cluster: Any, planned: Sequence[Planned], *, check_registries: bool) -> list[str]:
    """Every problem with the input, each naming where it is; empty when all is well."""
    from shakedown.cli.kube import talking_to_cluster
    from shakedown.cli.prove_cluster import registry_problem
    from shakedown.planning.validation import validate_image_refresh, validate_infra_rollout

    problems: list[str] = []
    registries: dict[str, bool] = {}
    with talking_to_cluster(what="the cluster", namespace=None):
        for p in planned:
            where = f"{p.manifest.source}: {p.manifest.ref}"
            if p.context is not None and (refused := cluster.dry_run(p.context)):
                problems.append(f"{where}: build context: {refused}")
            if refused := cluster.dry_run(p.copy):
                problems.append(f"{where}: {refused}")
                continue
            spec = p.copy.get("spec")
            if p.manifest.kind == "InfraRollout":
                _, found = validate_infra_rollout(spec)
                targets = [
                    f"{t.get('kind')}/{t.get('name')}" for t in (spec or {}).get("targets") or []
                ]
                ns = p.copy["metadata"]["namespace"]
                existing = cluster.existing(ns, _TARGET_KINDS, targets)
                pairs = [(key.partition("/")[0], key.partition("/")[2]) for key in existing]
                for missing in plan.missing_targets(p.manifest, pairs):
                    problems.append(
                        f"{where}: {missing}: the production target does not exist in "
                        f"namespace {ns}"
                    )
            else:
                parsed, found = validate_image_refresh(spec)
                if parsed is not None:
                    from shakedown.adapters.registry import ImageRef

                    registry = ImageRef.parse(parsed.image).registry
                    registries[registry] = registries.get(registry, False) or bool(
                        parsed.insecure_registry
                    )
            problems += [f"{where}: {problem}" for problem in found]
    if check_registries and not problems:
        for registry, insecure in sorted(registries.items()):
            if unreachable := registry_problem(registry, insecure=insecure):
                problems.append(unreachable)
    return problems


_TARGET_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service")


# --------------------------------------------------------------------------- following
def follow(cluster: Any, outcomes: list[Outcome], *, timeout: float, out: TextIO) -> list[Outcome]:
    """Read each copy until all have a verdict or ``timeout``; print a line per change."""
    start = time.monotonic()
    shown: dict[int, tuple[str, ...]] = {}
    tried_logs: set[tuple[int, str]] = set()
    while time.monotonic() - start < timeout:
        for i, o in enumerate(outcomes):
            if o.verdict is not Verdict.PENDING:
                continue
            obj = cluster.get(o.kind, o.namespace, o.name)
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

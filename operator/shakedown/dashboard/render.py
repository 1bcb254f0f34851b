"""The dashboard's HTML: pages and one card per object, from view models.

Pure: a view model in, ``Html`` out, built only with ``html.el`` so that every
value is escaped. Cards are rendered once per change and the same markup goes to
every browser (the page swaps a card by its id), so nothing here depends on who
asks. Times are sent as ISO timestamps in ``<time>``; the page shows them as
ages and keeps them current without asking the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from shakedown.api.common import short_digest
from shakedown.dashboard.html import Html, el, fragment, raw_document
from shakedown.dashboard.rollout_views import RolloutView
from shakedown.dashboard.views import ImageView, RunView

PAGES = (("images", "Images", "cir"), ("rollouts", "Rollouts", "iro"))

_GOOD = {"Ready", "Succeeded", "Validated", "Promoted", "Passed", "done"}
_BAD = {"NotReady", "Failed", "Stalled", "RolledBack", "Aborted", "Error", "failed"}
_BUSY = {
    "Pending",
    "Building",
    "Testing",
    "Promoting",
    "Snapshotting",
    "Shadowing",
    "SmokeTesting",
    "Shifting",
    "Baking",
    "RollingBack",
    "Reconciling",
    "Running",
    "active",
}


def tone(word: str) -> str:
    if word in _GOOD:
        return "good"
    if word in _BAD:
        return "bad"
    if word in _BUSY:
        return "busy"
    return "plain"


def badge(word: str, *, kind: str | None = None) -> Html:
    return el("span", {"class": f"badge {kind or tone(word)}"}, word or "-")


def when(timestamp: str) -> Html:
    if not timestamp:
        return el("span", {"class": "muted"}, "-")
    return el("time", {"datetime": timestamp, "title": timestamp}, timestamp)


def digest(value: str) -> Html:
    if not value:
        return el("span", {"class": "muted"}, "none")
    return el("code", {"class": "digest", "title": value}, short_digest(value))


def _card_head(
    name: str, *, badges: Sequence[object], sub: Sequence[object], actions: Sequence[object]
) -> Html:
    """The head both kinds' cards share: the name and its badges, a line under it, the buttons."""
    return el(
        "div",
        {"class": "card-head"},
        el(
            "div",
            {"class": "title"},
            el("div", {"class": "title-row"}, el("h2", {}, name), *badges),
            el("div", {"class": "sub"}, *sub),
        ),
        el("div", {"class": "actions"}, *actions),
    )


def action(path: str, label: str, *, style: str = "", fields: dict[str, str] | None = None) -> Html:
    """A button that POSTs to ``path`` (the page's script adds the request token)."""
    hidden = [
        el("input", {"type": "hidden", "name": k, "value": v}) for k, v in (fields or {}).items()
    ]
    return el(
        "form",
        {"class": "action", "method": "post", "action": path},
        hidden,
        el("button", {"type": "submit", "class": f"btn {style}".strip()}, label),
    )


def _key(view: ImageView | RolloutView) -> str:
    """The order of cards (namespace, name), as the page's script compares it."""
    return json.dumps([view.namespace, view.name], separators=(",", ":"))


def _fact(label: str, *value: object) -> Html:
    return el("div", {"class": "fact"}, el("dt", {}, label), el("dd", {}, *value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str = "") -> Html:
    return el(
        "table",
        {"class": cls or None},
        el("thead", {}, el("tr", {}, [el("th", {}, h) for h in headers])),
        el("tbody", {}, [el("tr", {}, [el("td", {}, c) for c in row]) for row in rows]),
    )


def _notices(requests: Sequence[str], message: str) -> Html:
    return fragment(
        [el("p", {"class": "notice"}, r) for r in requests],
        el("p", {"class": "message"}, message) if message else None,
    )


# --------------------------------------------------------------------------- images
def _run_rows(runs: Sequence[RunView]) -> list[list[object]]:
    return [
        [
            el("b", {}, run.id),
            run.trigger,
            badge(run.phase),
            when(run.started_at),
            run.total,
            el(
                "span",
                {"class": "chips"},
                [el("span", {"class": "chip"}, f"{n} {d}") for n, d in run.phases],
            ),
            digest(run.digest),
        ]
        for run in runs
    ]


def _failures(runs: Sequence[RunView]) -> Html:
    blocks = []
    for run in runs:
        for failed in run.failed:
            blocks.append(
                el(
                    "div",
                    {"class": "failure", "data-run": run.id, "data-scenario": failed.name},
                    el(
                        "div",
                        {"class": "failure-head"},
                        el("span", {"class": "badge bad"}, "failed"),
                        " scenario ",
                        el("b", {"class": "scenario"}, failed.name),
                        f" in run {run.id}: {failed.reason}",
                    ),
                    el("pre", {"class": "log"}, failed.log_tail or "(no output)"),
                )
            )
        if run.phase == "Failed" and not run.failed and run.message:
            blocks.append(
                el(
                    "div",
                    {"class": "failure", "data-run": run.id},
                    el("div", {"class": "failure-head"}, badge("Failed"), f" run {run.id}"),
                    el("pre", {"class": "log"}, run.message),
                )
            )
    return fragment(blocks)


def image_card(view: ImageView) -> Html:
    base = f"/actions/cir/{view.namespace}/{view.name}"
    tag_rows = [
        [
            digest(row.digest),
            when(row.promoted_at),
            row.run_id or "-",
            el("span", {"class": "badge good"}, f"{view.tag} is here")
            if row.current
            else action(
                f"{base}/rollback",
                "Move the tag back to this digest",
                style="small",
                fields={"digest": row.digest},
            ),
        ]
        for row in view.tags
    ]
    last = (
        fragment(badge(view.last_phase), el("span", {"class": "muted"}, f" {view.last_trigger}"))
        if view.last_phase
        else el("span", {"class": "muted"}, "no run yet")
    )
    return el(
        "section",
        {"class": "card", "id": view.id, "data-kind": "cir", "data-key": _key(view)},
        _card_head(
            view.name,
            badges=[
                badge(view.state),
                el("span", {"class": "badge warn"}, "suspended") if view.suspended else None,
            ],
            sub=[view.namespace, " · ", el("code", {}, f"{view.image}:{view.tag}")],
            actions=[
                action(f"{base}/trigger", "Run now", style="primary"),
                action(f"{base}/resume", "Resume")
                if view.suspended
                else action(f"{base}/suspend", "Suspend"),
            ],
        ),
        el(
            "dl",
            {"class": "facts"},
            _fact("Promoted", digest(view.promoted_digest), " ", when(view.promoted_at)),
            _fact("Last run", last),
            _fact("Schedule", view.schedule or "-"),
            _fact("Next run", when(view.next_run_at)),
        ),
        _notices(view.requests, view.message),
        el("h3", {}, "Runs"),
        _table(
            ["Run", "Trigger", "Result", "Started", "Took", "Phases", "Candidate"],
            _run_rows(view.runs),
        )
        if view.runs
        else el("p", {"class": "muted"}, "No runs yet."),
        _failures(view.runs),
        el("h3", {}, "Tag history"),
        _table(["Digest", "Promoted", "Run", ""], tag_rows, cls="tags")
        if tag_rows
        else el("p", {"class": "muted"}, "Nothing promoted yet."),
        el(
            "p",
            {"class": f"rollback {'ok' if view.rollback_ok else 'refused'}"},
            "Last move of the tag: ",
            view.rollback_result,
        )
        if view.rollback_result
        else None,
    )


# --------------------------------------------------------------------------- rollouts
def rollout_card(view: RolloutView) -> Html:
    base = f"/actions/iro/{view.namespace}/{view.name}"
    stages = [
        el(
            "li",
            {"class": f"stage {stage.state}"},
            el("span", {"class": "dot"}),
            el("div", {"class": "stage-name"}, stage.name),
            el("div", {"class": "stage-detail"}, stage.detail),
        )
        for stage in view.timeline
    ]
    return el(
        "section",
        {
            "class": "card",
            "id": view.id,
            "data-kind": "iro",
            "data-key": _key(view),
            "data-phase": view.phase,
        },
        _card_head(
            view.name,
            badges=[badge(view.phase)],
            sub=[view.namespace, " · ", view.strategy],
            actions=[
                action(f"{base}/promote", "Promote", style="primary") if view.can_promote else None,
                action(f"{base}/abort", "Abort and roll back", style="danger")
                if view.can_abort
                else None,
            ],
        ),
        el(
            "dl",
            {"class": "facts"},
            _fact("Revision", view.revision or "-"),
            _fact(
                "Shadow namespace",
                el("code", {}, view.shadow_namespace) if view.shadow_namespace else "-",
            ),
            _fact("Waiting for", view.waiting_for or "-"),
            _fact("Rollback reason", view.rollback_reason or "-"),
        ),
        _notices(view.requests, view.message),
        el("h3", {}, f"Revision {view.revision or '-'}"),
        el("ol", {"class": "timeline"}, stages),
        el(
            "div",
            {"class": "steps"},
            "Canary steps: ",
            [el("span", {"class": f"step {step.state}"}, step.label) for step in view.steps],
        )
        if view.steps
        else None,
        el("h3", {}, "Smoke checks") if view.checks else None,
        _table(
            ["Check", "Type", "Result", "Message"],
            [[el("b", {}, c.name), c.type, badge(c.phase), c.message] for c in view.checks],
        )
        if view.checks
        else None,
        el("h3", {}, "Targets"),
        _table(
            ["Kind", "Name", "Snapshot", "Now"],
            [[t.kind, el("b", {}, t.name), t.snapshot, t.live or "-"] for t in view.targets],
        ),
        el("h3", {}, "Revision history") if view.revisions else None,
        _table(
            ["Revision", "Result", "Started", "Took", "Reason"],
            [
                [r.revision, badge(r.result), when(r.started_at), r.took, r.reason]
                for r in view.revisions
            ],
        )
        if view.revisions
        else None,
    )


# --------------------------------------------------------------------------- page
def page(*, active: str, scope: str, token: str, cards: Sequence[Html]) -> Html:
    """The whole page of one kind; ``scope`` says which namespaces it shows."""
    kind = dict((slug, k) for slug, _, k in PAGES)[active]
    title = dict((slug, t) for slug, t, _ in PAGES)[active]
    empty = el(
        "p",
        {"class": "empty", "id": "empty"},
        f"No {'ContainerImageRefreshes' if kind == 'cir' else 'InfraRollouts'} in {scope}.",
    )
    head = el(
        "head",
        {},
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("meta", {"name": "shakedown-token", "content": token}),
        el("title", {}, f"{title} · shakedown"),
        el("link", {"rel": "icon", "href": "data:,"}),
        el("link", {"rel": "stylesheet", "href": "/static/dashboard.css"}),
        el("script", {"src": "/static/dashboard.js", "defer": True}),
    )
    nav = [
        el("a", {"href": f"/{slug}", "class": "active" if slug == active else None}, label)
        for slug, label, _ in PAGES
    ]
    body = el(
        "body",
        {"data-kind": kind},
        el(
            "header",
            {"class": "top"},
            el("div", {"class": "brand"}, el("span", {"class": "logo"}, "◆"), " shakedown"),
            el("nav", {}, nav),
            el("div", {"class": "scope"}, scope),
            el("div", {"id": "conn", "class": "conn"}, "connecting…"),
        ),
        el("div", {"id": "banner", "class": "banner", "hidden": True}),
        el("main", {"id": "cards"}, cards if cards else empty),
        el("div", {"id": "toast", "class": "toast", "hidden": True}),
    )
    return raw_document(head, body)

"""A tiny HTML builder that escapes every string it is given.

Every field of a custom resource is input from whoever may write it (names,
messages, log tails of a test that printed ``<script>``). Markup is only ever
made by ``el``, which escapes text children and attribute values, so a page
cannot be built from an unescaped string by accident: only ``Html`` values
(made by ``el`` itself) pass through unchanged.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

_VOID = frozenset({"meta", "link", "input", "br", "hr", "img"})


class Html(str):
    """Markup that is already safe (made by ``el``)."""

    __slots__ = ()


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _children(children: Iterable[object]) -> str:
    parts = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, Html):
            parts.append(str(child))
        elif isinstance(child, str | int | float):
            parts.append(esc(child))
        elif isinstance(child, Iterable):
            parts.append(_children(child))
        else:
            parts.append(esc(child))
    return "".join(parts)


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Html:
    """``<tag attr="value">children</tag>``; ``None``/``False`` attributes are left out."""
    rendered = []
    for key, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        rendered.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    opening = f"<{tag}{''.join(rendered)}>"
    if tag in _VOID:
        return Html(opening)
    return Html(f"{opening}{_children(children)}</{tag}>")


def fragment(*children: object) -> Html:
    return Html(_children(children))


def raw_document(head: Html, body: Html) -> Html:
    return Html(f"<!doctype html>\n<html lang=en>{head}{body}</html>\n")

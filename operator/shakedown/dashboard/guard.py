"""Which requests the dashboard accepts, and a warning for where it listens.

The dashboard acts with the caller's own credentials, so any web page the
caller visits must not be able to act through it:

- every request must name the dashboard itself in ``Host`` (a page of another
  site whose name was re-bound to 127.0.0.1 sends its own name there, so it
  can read nothing, the request token included);
- a POST must carry the per-process token that only the dashboard's own pages
  contain, and, when the browser sends ``Origin``, come from the dashboard's
  own origin. A cross-site form or ``fetch`` can do neither.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(address: str) -> bool:
    return address.strip("[]") in ("0.0.0.0", "::", "")


def bind_warning(address: str) -> str | None:
    """What to tell the user when the dashboard listens beyond this machine."""
    if is_loopback(address):
        return None
    return (
        f"WARNING: the dashboard listens on {address}, not only on this machine: anyone who "
        "can reach that address and gets the page acts with your Kubernetes credentials. "
        "Prefer the default (127.0.0.1) and an SSH tunnel."
    )


def allowed_hosts(address: str, port: int) -> frozenset[str] | None:
    """``Host`` values the dashboard answers; None when any is accepted (a wildcard bind)."""
    if is_wildcard(address):
        return None
    names = {address if ":" not in address else f"[{address.strip('[]')}]"}
    if is_loopback(address):
        names |= set(LOOPBACK_NAMES)
    return frozenset(f"{name}:{port}" for name in names)


def refuse(
    *,
    method: str,
    host: str | None,
    origin: str | None,
    token: str | None,
    expected_token: str,
    hosts: Collection[str] | None,
) -> str | None:
    """Why the request is refused, or None when it is accepted."""
    if hosts is not None and (host or "") not in hosts:
        return f"unexpected Host header {host!r}: open the dashboard by the address it printed"
    if method in ("GET", "HEAD", "OPTIONS"):
        return None
    if origin is not None and origin != f"http://{host}":
        return f"cross-site request refused (Origin {origin!r})"
    if not token or not hmac.compare_digest(token.encode(), expected_token.encode()):
        return "missing or wrong request token: reload the page"
    return None

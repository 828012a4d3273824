"""Whether local demo mode may answer a request: only on this machine, never through a proxy.

Demo mode (no users configured, :func:`geo.access.users.demo_mode`) opens every partner
view without sign-in, so the app serves it only when the server listens on a loopback
address (:func:`demo_exposure`) and the page was opened under a local name
(:func:`host_is_local`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = ["demo_exposure", "host_is_local"]

_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def demo_exposure(address: str | None, headers: Mapping[str, str] | None = None) -> str | None:
    """Why demo mode must not serve this request, or None if it is local.

    Demo mode opens every partner view without sign-in, so it is for this machine only: the
    server must listen on a loopback address (``server.address``; unset means every network
    interface) and the request must not come through a reverse proxy (which would publish a
    localhost-bound server).

    Examples
    --------
    >>> demo_exposure("localhost") is None, demo_exposure("127.0.0.1") is None
    (True, True)
    >>> demo_exposure("0.0.0.0")
    'the server listens on 0.0.0.0, not on localhost only'
    >>> demo_exposure(None)
    'the server listens on every network interface, not on localhost only'
    >>> demo_exposure("localhost", {"X-Forwarded-For": "203.0.113.7"})
    'the request came through a proxy (X-Forwarded-For header)'
    """
    where = (address or "").strip()
    if not _is_loopback(where):
        shown = where or "every network interface"
        return f"the server listens on {shown}, not on localhost only"
    for key in headers or {}:
        if key.lower() in _PROXY_HEADERS:
            return f"the request came through a proxy ({key} header)"
    return None


def host_is_local(headers: Mapping[str, str]) -> bool:
    """True if the request's ``Host`` header names this machine: localhost or a loopback address.

    Demo mode answers only such requests. A web page elsewhere can point a name of its own at
    127.0.0.1 (DNS rebinding) and so reach a server that listens on localhost only; the browser
    then sends that name, not localhost, as the ``Host`` of the page and of its websocket.
    Any port is fine. No headers at all means no browser connection (a script, a test): there
    is nothing to check. A connection without a ``Host`` header is refused.

    Examples
    --------
    >>> [host_is_local({"Host": h}) for h in ("localhost:8501", "127.0.0.1", "[::1]:8501")]
    [True, True, True]
    >>> [host_is_local({"host": h}) for h in ("rebind.example:8501", "localhost.evil", "")]
    [False, False, False]
    >>> host_is_local({}), host_is_local({"User-Agent": "x"})
    (True, False)
    """
    if not headers:
        return True
    host = next((v for k, v in headers.items() if k.lower() == "host"), "").strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1] or [::1]:8501
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else (None if rest else "")
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if port is None or (port and not port.isdigit()):
        return False
    return bool(name) and _is_loopback(name)


def _is_loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False

"""What keeps ``tumorseg serve`` safe from other web pages and from floods: Host, Origin, token, admission.

The threat: any web page the user visits can make the browser send requests
to ``http://127.0.0.1:8000``. Three checks stop it (:class:`RequestGuard`, an
ASGI middleware, in this order):

1. **Host** must name this server (:func:`allowed_hosts`): the bound address,
   ``localhost``, names given with ``--allowed-host``. A DNS-rebinding page
   reaches the server under *its own* name (``Host: attacker.example``) and
   is refused with 400. IP literals are accepted only when they are the bound
   address (any address for a wildcard bind), since rebinding needs a name.
2. **Origin**: a request that carries ``Origin`` (every cross-origin fetch and
   form post from a browser) must come from this server's own page, i.e. the
   same scheme-less ``host:port`` as ``Host``; ``Origin: null`` is refused. A
   state-changing request (not GET/HEAD/OPTIONS) marked ``Sec-Fetch-Site:
   cross-site`` or ``same-site`` is refused even without ``Origin``. → 403.
   Clients that are not browsers (curl, scripts) send neither and pass.
3. **Token** (``--token``, generated and printed when bound to a non-loopback
   address): every request except ``/static/*`` must carry it as
   ``Authorization: Bearer T``, ``X-Tumorseg-Token: T``, ``?token=T`` or the
   ``tumorseg_token`` cookie, which a ``?token=T`` visit sets
   (``HttpOnly; SameSite=Strict``) so the page's own requests carry it. → 401.

:class:`Admission` bounds the heavy work: at most ``max_active`` uploads are
decoded and predicted at once, at most ``max_waiting`` wait (bodies spooled to
disk by the multipart parser), each for at most ``wait_s``; beyond that the
answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
COOKIE = "tumorseg_token"
SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names (lower case, no port) that name a server bound to ``bind``.

    Loopback names always; the bound address itself; for a wildcard bind
    (``0.0.0.0``/``::``) this machine's host name and FQDN, plus ``"*ip"``
    meaning any IP literal; and ``extra`` (``--allowed-host``; ``"*"`` turns
    the check off).
    """
    names = set(LOOPBACK_NAMES) | {bind.strip("[]").lower()} | {h.strip().strip("[]").lower() for h in extra if h.strip()}
    if bind in WILDCARDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower(), "*ip"}
    names.discard("")
    return frozenset(names)


def _split_host(value: str) -> tuple[str, str]:
    """``"Example.org:8000"`` → ``("example.org", "8000")``; ``"[::1]:80"`` → ``("::1", "80")``."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.lstrip(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host.rstrip("."), port


def host_ok(header: str | None, allowed: frozenset[str]) -> bool:
    """Does the ``Host`` header name this server (see :func:`allowed_hosts`)?"""
    if not header:
        return False
    if "*" in allowed:
        return True
    host, _ = _split_host(header)
    if host in allowed:
        return True
    if "*ip" in allowed:
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return False
    return False


def same_origin(origin: str, host_header: str, scheme: str) -> bool:
    """``Origin`` (``scheme://host[:port]``) names the same server as the ``Host`` header (default ports
    filled in)."""
    if origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        default = {"http": "80", "https": "443"}
        o_host, o_port = parts.hostname.rstrip("."), str(parts.port or default[parts.scheme])
    except ValueError:  # a malformed port ("8000.evil.example") or address
        return False
    h_host, h_port = _split_host(host_header)
    # the scheme may differ behind a TLS proxy; host and port cannot belong to another page's server
    return o_host == h_host and o_port == (h_port or default.get(scheme, "80"))


def new_token() -> str:
    return secrets.token_urlsafe(24)


class RequestGuard:
    """ASGI middleware: the Host, Origin and token checks described in the module docstring."""

    def __init__(self, app, allowed: frozenset[str], token: str | None = None):
        self.app, self.allowed, self.token = app, allowed, token

    async def _refuse(self, scope, receive, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="tumorseg"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _token_given(self, scope, headers: dict[bytes, bytes]) -> tuple[bool, bool]:
        """(token accepted, came from the query string)."""
        want = self.token.encode()
        auth = headers.get(b"authorization", b"")
        candidates = [auth[7:].strip() if auth[:7].lower() == b"bearer " else b"", headers.get(b"x-tumorseg-token", b"")]
        cookie = SimpleCookie()
        with contextlib.suppress(Exception):
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        if COOKIE in cookie:
            candidates.append(cookie[COOKIE].value.encode())
        if any(c and hmac.compare_digest(c, want) for c in candidates):
            return True, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        return any(hmac.compare_digest(q.encode(), want) for q in query), True

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if not host_ok(host, self.allowed):
            log.warning("refused a request for Host %r (DNS rebinding or a wrong address)", host[:80])
            return await self._refuse(scope, receive, send, 400, (
                f"Host '{host[:80]}' does not name this server; open it by its own address (e.g. "
                "http://127.0.0.1:PORT/), or start it with --allowed-host NAME."))
        origin = headers.get(b"origin", b"").decode("latin-1")
        scheme = scope.get("scheme", "http")
        if origin and not same_origin(origin, host, scheme):
            return await self._refuse(scope, receive, send, 403, (
                f"cross-origin request from '{origin[:80]}' refused: this server answers only its own page."))
        site = headers.get(b"sec-fetch-site", b"").lower()
        if scope.get("method", "GET").encode() not in SAFE_METHODS and site in (b"cross-site", b"same-site"):
            return await self._refuse(scope, receive, send, 403,
                                      "cross-site request refused: this server answers only its own page.")
        if self.token is None or scope.get("path", "").startswith("/static/"):
            return await self.app(scope, receive, send)
        ok, from_query = self._token_given(scope, headers)
        if not ok:
            return await self._refuse(scope, receive, send, 401, (
                "this server needs its access token: open the address printed by 'tumorseg serve' "
                "(…/?token=…), or send 'Authorization: Bearer TOKEN'."))
        if not from_query:
            return await self.app(scope, receive, send)

        async def set_cookie(message):  # a ?token= visit: the page's own requests then carry the cookie
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, set_cookie)


class Admission:
    """At most ``max_active`` heavy requests at once, ``max_waiting`` queued (each ≤ ``wait_s``); else 503."""

    def __init__(self, max_active: int = 2, max_waiting: int = 64, wait_s: float = 120.0):
        if max_active < 1 or max_waiting < 0 or wait_s <= 0:
            raise ValueError("max_active >= 1, max_waiting >= 0 and wait_s > 0 are required")
        self.max_active, self.max_waiting, self.wait_s = max_active, max_waiting, wait_s
        self._sem: asyncio.Semaphore | None = None
        self.active = self.waiting = 0
        self.mean_s = 1.0  # moving average of a request's duration, for Retry-After

    def _busy(self, why: str) -> HTTPException:
        retry = max(1, math.ceil(self.mean_s * (self.waiting + self.active) / self.max_active))
        return HTTPException(503, f"the server is busy ({why}); retry in {retry} s.",
                             headers={"Retry-After": str(retry)})

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``max_active`` slots for the ``async with`` body."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.max_active)
        if self._sem.locked() and self.waiting >= self.max_waiting:
            raise self._busy(f"{self.active} uploads in progress and {self.waiting} waiting")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), self.wait_s)
        except asyncio.TimeoutError:
            raise self._busy(f"waited {self.wait_s:g} s for a free slot") from None
        finally:
            self.waiting -= 1
        self.active += 1
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.active -= 1
            self.mean_s = 0.8 * self.mean_s + 0.2 * (time.perf_counter() - t0)
            self._sem.release()


__all__ = ["Admission", "RequestGuard", "allowed_hosts", "host_ok", "is_loopback", "new_token", "same_origin"]

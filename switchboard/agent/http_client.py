"""The HTTP client the agent's tools use: one per worker, with no cookie jar.

A worker runs every customer's tool calls through one client. A cookie jar on it would
carry a session a tool server set during one customer's call into the next customer's
call, so the jar here never stores a cookie: ``Set-Cookie`` answers are dropped, and a
cookie set by hand (a Python tool using ``ToolContext.http``) is dropped too. A tool that
needs a session must send its credentials in its own request (a header, ``auth_env``).
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from collections.abc import Sequence
from typing import Any

import httpx

TOOL_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
"""A request's default timeouts (each tool also has its own deadline per attempt)."""

TOOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50)


class _RefuseAll(http.cookiejar.CookiePolicy):
    """Accepts no cookie and returns none (if one were stored anyway, it is never sent)."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: urllib.request.Request) -> bool:
        return False

    def path_return_ok(self, path: str, request: urllib.request.Request) -> bool:
        return False


class NoCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that stays empty: every way of adding a cookie does nothing."""

    def __init__(self) -> None:
        super().__init__(policy=_RefuseAll())

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Drop the cookie."""

    def set_cookie_if_ok(
        self, cookie: http.cookiejar.Cookie, request: urllib.request.Request
    ) -> None:
        """Drop the cookie."""

    def extract_cookies(self, response: object, request: urllib.request.Request) -> None:
        """Drop every cookie the response sets."""

    def make_cookies(
        self, response: object, request: urllib.request.Request
    ) -> Sequence[http.cookiejar.Cookie]:
        """No cookies, whatever the response says."""
        return []


class ToolHttpClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose cookie jar is always a ``NoCookieJar``.

    Assigning ``client.cookies`` (which would install an ordinary jar) installs a fresh
    ``NoCookieJar`` instead, so no tool can turn cookie storage back on for everyone.
    """

    def __init__(self, **options: Any) -> None:
        options.pop("cookies", None)
        super().__init__(cookies=NoCookieJar(), **options)

    @property
    def cookies(self) -> httpx.Cookies:
        """The (always empty) cookies."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        self._cookies = httpx.Cookies(NoCookieJar())


def keeps_no_cookies(client: httpx.AsyncClient) -> bool:
    """Whether the client's cookie jar is a ``NoCookieJar`` (see the module's docstring)."""
    return isinstance(client.cookies.jar, NoCookieJar)


def tool_http_client() -> httpx.AsyncClient:
    """A new client for the agent's tools: no cookie jar, the worker's timeouts and limits."""
    return ToolHttpClient(timeout=TOOL_TIMEOUT, limits=TOOL_LIMITS)

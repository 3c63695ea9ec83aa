"""Which endpoint addresses Herald may call: SPEC §11's private-address rule.

With DEBUG off, an endpoint whose host resolves to a loopback, private, link-local (or otherwise
non-public: unspecified, reserved, shared, multicast) address is refused unless
WEBHOOKS_ALLOW_PRIVATE is on. The rule is checked when the URL is saved and again at send time by
the resolver the delivery engine connects with (`PublicOnlyResolver`), so a name that later resolves
to 127.0.0.1 (DNS rebinding) is never called.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from django.conf import settings


class BlockedAddressError(OSError):
    """The host is, or resolves to, an address the private-address rule refuses."""


def private_allowed() -> bool:
    return bool(settings.DEBUG or settings.WEBHOOKS_ALLOW_PRIVATE)


def is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str) -> str | None:
    """Why `url` may not be an endpoint (scheme, host, the private-address rule), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in ("http", "https"):
        return "The URL must start with http:// or https://."
    host = parts.hostname
    if not host:
        return "The URL must name a host."
    if parts.username or parts.password:
        return "The URL must not carry a user name or password; authenticate with the signature."
    if private_allowed():
        return None
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"The host {host!r} does not resolve."
    if any(not is_public(str(info[4][0])) for info in infos):
        return (
            f"The host {host!r} resolves to a loopback, private or link-local address; "
            "such endpoints are refused (WEBHOOKS_ALLOW_PRIVATE)."
        )
    return None


def check_literal_host(url: str) -> None:
    """At send time, for a URL whose host is an IP literal (aiohttp does not resolve those)."""
    if private_allowed():
        return
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: PublicOnlyResolver checks what it resolves to
    if not is_public(host):
        raise BlockedAddressError(f"{host} is not a public address")


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, refusing non-public answers: the addresses checked are the ones connected to."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
        results: list[ResolveResult] = await self._inner.resolve(host, port, family)
        if not private_allowed():
            blocked = [r["host"] for r in results if not is_public(r["host"])]
            if blocked:
                raise BlockedAddressError(f"{host} resolves to a non-public address")
        return results

    async def close(self) -> None:
        await self._inner.close()

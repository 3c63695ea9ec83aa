"""Client addresses and allowlists (pure functions)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(value: str) -> IPNetwork:
    """An IP or CIDR as a network; ValueError with a readable message when malformed."""
    text = value.strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IP address or CIDR (e.g. 203.0.113.7 or 10.0.0.0/8).") from None


def normalize_networks(values: Iterable[str]) -> list[str]:
    """Canonical CIDR strings, deduplicated, in input order. Raises ValueError on the first bad one."""
    seen: dict[str, None] = {}
    for value in values:
        seen[str(parse_network(value))] = None
    return list(seen)


def ip_in_networks(ip: str, networks: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(remote_addr: str, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The address of the party that called us.

    X-Forwarded-For is believed only when the direct peer is a trusted proxy. Then the chain is read
    from the right, skipping trusted proxies; the first untrusted address is the client. Anything a
    client writes at the left of the header is therefore ignored.
    """
    if not forwarded_for or not ip_in_networks(remote_addr, trusted_proxies):
        return remote_addr
    candidate = remote_addr
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        candidate = hop
        if not ip_in_networks(hop, trusted_proxies):
            break
    return candidate

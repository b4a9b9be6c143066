"""Where a consumer webhook may go: the SSRF guard.

A webhook URL is the consumer's, so the server would otherwise POST wherever it is told: to its own
loopback services, to the private network it sits in, or to a cloud's metadata service (which
hands out credentials). Three checks close that:

- at create, ``check_webhook_url``: https only, no credentials in the URL, and a host that is a
  literal address (``127.0.0.1``, ``[::1]``, ``2130706433``, ``0x7f.1``) or ``localhost`` must be
  a public one;
- at every delivery attempt, ``checked_address``: the host is resolved once and every address it
  resolves to must be public; the delivery then connects to that checked address (never
  resolving again, so a DNS answer that changes between check and connect cannot slip through);
- the delivery never follows a redirect (``delivery.py``).

``COHERENCE_WEBHOOK_ALLOW_PRIVATE`` lets private and loopback addresses (and plain http) through,
for tests and closed networks; link-local and metadata addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
# Cloud metadata services: AWS, GCP, Azure (169.254.169.254), AWS over IPv6, AWS ECS task
# metadata, Alibaba Cloud (inside 100.64/10, so ALLOW_PRIVATE alone would let it through).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A webhook URL or address the server will not send to; the message says why."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), which is where a
    packet to it may end up."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str | Address, *, allow_private: bool) -> str | None:
    """Why the server will not send to ``address``, or None if it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip.__class__(int(ip))  # the scope id plays no part
    if ip in METADATA or ip.is_link_local:
        return "a link-local or cloud metadata address"
    if ip.is_loopback:  # before is_reserved, which ::1 is too
        return None if allow_private else "a loopback address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    if ip.is_global or allow_private:
        return None
    return "a private or otherwise non-public address"


def literal_address(host: str) -> Address | None:
    """The address a host names literally, in any form the system resolver takes as one
    (``127.1``, ``2130706433``, ``0x7f000001`` all mean 127.0.0.1), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parts(url: str, *, allow_private: bool) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"The webhook URL is longer than {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise AddressRefused("The webhook URL must be ASCII without spaces (punycode hosts).")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise AddressRefused("The webhook must be an https:// URL.")
    if not parts.hostname:
        raise AddressRefused("The webhook URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("The webhook URL must not carry a user name or password.")
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as exc:
        raise AddressRefused("The webhook URL's port is not valid.") from exc
    return parts


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """``url`` if the server may send webhooks to it, else AddressRefused saying why (at create:
    only what the URL itself says; names are resolved at every delivery)."""
    parts = _parts(url, allow_private=allow_private)
    host = parts.hostname or ""
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise AddressRefused("The webhook's host is a loopback name.")
    literal = literal_address(host)
    reason = refusal(literal, allow_private=allow_private) if literal else None
    if reason:
        raise AddressRefused(f"The webhook's host {host} is {reason}.")
    return url


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def checked_address(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve ``host`` once and return the address to connect to, if every address it resolves
    to may be sent to; AddressRefused otherwise (also when it does not resolve)."""
    literal = literal_address(host)
    try:
        addresses = [str(literal)] if literal else resolve(host, port)
    except OSError as exc:
        raise AddressRefused(f"{host} does not resolve: {exc}") from exc
    if not addresses:
        raise AddressRefused(f"{host} does not resolve.")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason:
            raise AddressRefused(f"{host} resolves to {address}, {reason}.")
    return addresses[0]


# The resolver every delivery asks; a module attribute so that tests can answer for it.
resolve = system_resolve

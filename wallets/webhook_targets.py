"""Where a webhook may be delivered: http(s) URLs whose host resolves only to addresses we
are willing to call. Link-local addresses (169.254.0.0/16, fe80::/10, where cloud metadata
services answer), multicast, reserved and unspecified ones are never targets; private and
loopback ones only where the deployment allows them (a merchant's server on the same
network, or tests). Pure apart from name resolution."""

import ipaddress
import socket
from urllib.parse import urlsplit

SCHEMES = ("http", "https")


class TargetRefused(ValueError):
    """Why a URL is not a target, in words a merchant can act on."""


def _never(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_private or address.is_loopback


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"{host} does not resolve") from error
    return sorted({info[4][0] for info in infos})


def check_target(url: str, *, allow_private: bool, resolver=resolve) -> list[str]:
    """The addresses `url` would be delivered to; TargetRefused if it is not a target."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"{url!r} is not a URL") from error
    if parts.scheme not in SCHEMES:
        raise TargetRefused("a webhook URL is http:// or https://")
    if not parts.hostname:
        raise TargetRefused("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL carries no user name or password")
    addresses = resolver(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _never(address):
            raise TargetRefused(f"{parts.hostname} resolves to {address}, never a webhook target")
        if _private(address) and not allow_private:
            raise TargetRefused(
                f"{parts.hostname} resolves to {address}, a private address this deployment "
                "does not deliver to"
            )
    if not addresses:
        raise TargetRefused(f"{parts.hostname} does not resolve")
    return addresses

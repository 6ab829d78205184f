"""Which ``Host`` headers the page answers to (the defence against DNS rebinding).

A rebinding page is served from the attacker's own name (``evil.example``) that later resolves
to this machine: the browser then sends ``Host: evil.example``. So the page answers only to
names that are really this server's:

- bound to loopback (the default): ``localhost``, ``127.0.0.1``, ``[::1]``;
- bound to any other address (``0.0.0.0`` included): those, the bound address, the machine's
  host name (short and fully qualified) and its addresses;
- always: the names given with ``--allow-host NAME`` (a reverse proxy's public name, a DNS
  alias). ``NAME:PORT`` accepts that port only.

The port must be the server's own (a ``Host`` without a port means the scheme's default port),
except for ``--allow-host`` names given without a port, which also accept a ``Host`` with no
port: what a reverse proxy in front on 80/443 sends.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # bound to every interface
_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host == "::1" or host.startswith("127.")


def split_host(text: str) -> tuple[str, int | None]:
    """``Example.com:8080`` -> ``("example.com", 8080)``; ``[::1]`` -> ``("[::1]", None)``.

    Names are lower-cased and lose a trailing dot; IPv6 addresses keep their brackets. Raises
    ``ValueError`` for anything that is not a host name or address with an optional port."""
    text = text.strip().lower()
    port_text = ""
    if text.startswith("["):
        name, bracket, rest = text.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(text)
        name, port_text = name + "]", rest[1:]
        ipaddress.IPv6Address(name[1:-1].split("%", 1)[0])
    else:
        name, _, port_text = text.partition(":")
        name = name.rstrip(".")
        if not _NAME.match(name):
            raise ValueError(text)
    if port_text == "" and text.endswith(":"):
        raise ValueError(text)
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(text)
    return name, int(port_text) if port_text else None


def address_name(address: str) -> str:
    """How an address appears in ``Host``: IPv6 in brackets, without a zone (``%eth0``)."""
    address = address.split("%", 1)[0].lower()
    return f"[{address}]" if ":" in address else address


def parse_allowed_host(text: str) -> tuple[str, int | None]:
    """An ``--allow-host`` value: ``NAME`` or ``NAME:PORT`` (no scheme, no path)."""
    try:
        return split_host(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a host name: give the name as typed in the browser's address "
            "bar, without http:// or a path (e.g. alm.example.com or alm.example.com:8443)"
        ) from None


def machine_names(bound: str) -> set[str]:
    """This machine's host names and addresses, as ``Host`` would carry them. Best effort: a
    name that cannot be resolved is skipped (``--allow-host`` adds what is missing)."""
    names = set()
    hostname = socket.gethostname()
    for name in {hostname, socket.getfqdn(hostname)}:
        if not name:
            continue
        names.add(name.lower().rstrip("."))
        try:
            for info in socket.getaddrinfo(name, None):
                names.add(address_name(str(info[4][0])))
        except OSError:
            pass
    names.update(address_name(a) for a in _route_addresses())
    return names


def _route_addresses() -> list[str]:
    """The addresses this machine sends from by default (what other machines on the network
    reach it by). ``connect`` on a UDP socket only picks the route: no packet is sent."""
    found = []
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(str(probe.getsockname()[0]))
        except OSError:
            pass
    return found


@dataclass(frozen=True)
class AllowedHosts:
    """The ``Host`` values the page answers to (see the module's docstring)."""

    names: frozenset[str]  # with the server's port (or none written, on a default port)
    extra: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)  # --allow-host

    @classmethod
    def for_binding(cls, bound: str, allow: tuple[str, ...] = ()) -> AllowedHosts:
        names = set(LOOPBACK_NAMES)
        if bound not in WILDCARDS:
            names.add(address_name(bound))
        if not is_loopback(bound):
            names |= machine_names(bound)
        return cls(frozenset(names), frozenset(parse_allowed_host(a) for a in allow))

    def accepts(self, host: str, server_port: int | None, scheme: str = "http") -> bool:
        try:
            name, port = split_host(host)
        except ValueError:
            return False
        if (name, port) in self.extra or (port is None and (name, None) in self.extra):
            return True
        if server_port is None:  # not served from a TCP port (a test's app): names only
            return name in self.names or (name, None) in self.extra
        effective = port if port is not None else (443 if scheme == "https" else 80)
        if effective != server_port:
            return False
        return name in self.names or (name, None) in self.extra

    def shown(self) -> list[str]:
        """The accepted names, for the start-up message."""
        extra = [n if p is None else f"{n}:{p}" for n, p in self.extra]
        return sorted(self.names) + sorted(extra)

"""IP addresses, URLs, file paths and command lines.

``geo_info_from_ip_address()`` answers an empty bag: the simulator has no geolocation data.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Any

from .model import to_kql_string
from .signatures import ANY, INTEGER, STR, Function, rule

_IPV4_TERM = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")


def _ipv4(text: Any, prefix: Any = None) -> ipaddress.IPv4Network | None:
    """An address or CIDR range (``10.0.0.0/8``) as a network; ``prefix`` narrows it further."""
    if not isinstance(text, str):
        return None
    try:
        net = ipaddress.IPv4Network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(prefix, int) and not isinstance(prefix, bool):
        if not 0 <= prefix <= 32:
            return None
        net = net.supernet(new_prefix=min(prefix, net.prefixlen)) if prefix < net.prefixlen else net
    return net


def _ipv4_compare(a: Any, b: Any, prefix: Any = None) -> int | None:
    x, y = _ipv4(a), _ipv4(b)
    if x is None or y is None:
        return None
    bits = min(x.prefixlen, y.prefixlen, prefix if isinstance(prefix, int) else 32)
    shift = 32 - bits
    p, q = int(x.network_address) >> shift, int(y.network_address) >> shift
    return (p > q) - (p < q)


def _ipv4_is_in_range(ip: Any, cidr: Any) -> bool | None:
    addr, net = _ipv4(ip), _ipv4(cidr)
    if addr is None or net is None:
        return None
    return addr.network_address in net


def _ipv4_is_in_any_range(ip: Any, *ranges: Any) -> bool | None:
    items = ranges[0] if len(ranges) == 1 and isinstance(ranges[0], list) else ranges
    if _ipv4(ip) is None:
        return None
    return any(_ipv4_is_in_range(ip, r) for r in items)


def _ipv4_is_private(ip: Any) -> bool | None:
    addr = _ipv4(ip)
    if addr is None:
        return None
    return any(addr.network_address in ipaddress.IPv4Network(r) for r in
               ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _parse_ipv4(ip: Any) -> int | None:
    net = _ipv4(ip)
    return None if net is None else int(net.network_address)


def _parse_ipv4_mask(ip: Any, prefix: Any) -> int | None:
    net = _ipv4(ip, prefix)
    return None if net is None else int(net.network_address)


def _format_ipv4(ip: Any, prefix: Any = 32) -> str:
    if isinstance(ip, int) and not isinstance(ip, bool):
        ip = str(ipaddress.IPv4Address(ip & 0xFFFFFFFF))
    net = _ipv4(ip, prefix)
    return "" if net is None else str(net.network_address)


def _format_ipv4_mask(ip: Any, prefix: Any = 32) -> str:
    address = _format_ipv4(ip, prefix)
    return f"{address}/{prefix if isinstance(prefix, int) else 32}" if address else ""


def _ipv6(text: Any, prefix: Any = None) -> ipaddress.IPv6Network | None:
    if not isinstance(text, str):
        return None
    try:
        address = text.strip()
        net = ipaddress.ip_network(address, strict=False)
        if net.version == 4:
            net = ipaddress.IPv6Network(f"::ffff:{net.network_address}/{96 + net.prefixlen}", strict=False)
    except ValueError:
        return None
    if isinstance(prefix, int) and 0 <= prefix < net.prefixlen:
        net = net.supernet(new_prefix=prefix)
    return net


def _ipv6_compare(a: Any, b: Any, prefix: Any = None) -> int | None:
    x, y = _ipv6(a), _ipv6(b)
    if x is None or y is None:
        return None
    bits = min(x.prefixlen, y.prefixlen, prefix if isinstance(prefix, int) else 128)
    p, q = int(x.network_address) >> (128 - bits), int(y.network_address) >> (128 - bits)
    return (p > q) - (p < q)


def _has_ipv4(source: Any, ip: Any, prefix_match: bool = False) -> bool:
    wanted = to_kql_string(ip)
    for found in _IPV4_TERM.findall(to_kql_string(source)):
        if found == wanted or prefix_match and found.startswith(wanted):
            return True
    return False


def _parse_url(url: Any) -> dict:
    text = to_kql_string(url)
    empty = {"Scheme": "", "Host": "", "Port": "", "Path": "", "Username": "", "Password": "",
             "Query Parameters": {}, "Fragment": ""}
    if "://" not in text:
        return empty
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        return empty
    query = {k: v for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)}
    # The Path has no leading slash (parse-url-function.md: ".../this/is/a/path" → "this/is/a/path").
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return {"Scheme": parts.scheme, "Host": parts.hostname or "", "Port": "" if port is None else str(port),
            "Path": path, "Username": parts.username or "", "Password": parts.password or "",
            "Query Parameters": query, "Fragment": parts.fragment}


def _parse_urlquery(query: Any) -> dict:
    text = to_kql_string(query).lstrip("?")
    return {"Query Parameters": {k: v for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True)}}


def _parse_path(path: Any) -> dict:
    text = to_kql_string(path)
    scheme = ""
    m = re.match(r"^([A-Za-z][\w+.-]*)://", text)
    if m:
        scheme, text = m.group(1), text[m.end():]
    stream = ""
    name_start = max(text.rfind("\\"), text.rfind("/")) + 1
    directory, filename = text[:max(name_start - 1, 0)], text[name_start:]
    if ":" in filename:
        filename, stream = filename.split(":", 1)
    root = ""
    m = re.match(r"^[A-Za-z]:", text)  # only a drive is a root (parse-path-function.md)
    if m:
        root = m.group(0)
    extension = filename.rsplit(".", 1)[1] if "." in filename else ""
    dir_name = re.split(r"[\\/]", directory)[-1] if directory else ""
    if name_start == 1 and text[:1] in "\\/":
        directory = text[0]
    return {"Scheme": scheme, "RootPath": root, "DirectoryPath": directory, "DirectoryName": dir_name,
            "Filename": filename, "Extension": extension, "AlternateDataStreamName": stream}


def _parse_command_line(command: Any, parser: Any = "windows") -> list | None:
    """Windows rules (CommandLineToArgvW): spaces split, quotes group, backslashes before a
    quote escape it."""
    if to_kql_string(parser).lower() != "windows":
        return None
    text, args, current, in_quotes, has_token, i = to_kql_string(command), [], [], False, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            j = i
            while j < len(text) and text[j] == "\\":
                j += 1
            count = j - i
            if j < len(text) and text[j] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    j += 1
                i, has_token = j, True
                continue
            current.append("\\" * count)
            i, has_token = j, True
            continue
        if ch == '"':
            if in_quotes and i + 1 < len(text) and text[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes, has_token = not in_quotes, True
        elif ch in " \t" and not in_quotes:
            if has_token:
                args.append("".join(current))
                current, has_token = [], False
        else:
            current.append(ch)
            has_token = True
        i += 1
    if has_token:
        args.append("".join(current))
    return args


_F = Function
FUNCTIONS = [
    _F("ipv4_is_private", 1, 1, rule("bool", STR), _ipv4_is_private),
    _F("ipv4_is_in_range", 2, 2, rule("bool", STR), _ipv4_is_in_range),
    _F("ipv4_is_in_any_range", 2, 64, rule("bool"), _ipv4_is_in_any_range),
    _F("ipv4_is_match", 2, 3, rule("bool", STR, STR, INTEGER),
       lambda a, b, p=None: None if (c := _ipv4_compare(a, b, p)) is None else c == 0),
    _F("ipv4_compare", 2, 3, rule("long", STR, STR, INTEGER), _ipv4_compare),
    _F("ipv4_netmask_suffix", 1, 1, rule("long", STR), lambda ip: None if (n := _ipv4(ip)) is None else n.prefixlen),
    _F("parse_ipv4", 1, 1, rule("long", STR), _parse_ipv4),
    _F("parse_ipv4_mask", 2, 2, rule("long", STR, INTEGER), _parse_ipv4_mask),
    _F("format_ipv4", 1, 2, rule("string", ANY, INTEGER), _format_ipv4),
    _F("format_ipv4_mask", 1, 2, rule("string", ANY, INTEGER), _format_ipv4_mask),
    _F("ipv6_compare", 2, 3, rule("long", STR, STR, INTEGER), _ipv6_compare),
    _F("ipv6_is_match", 2, 3, rule("bool", STR, STR, INTEGER),
       lambda a, b, p=None: None if (c := _ipv6_compare(a, b, p)) is None else c == 0),
    _F("parse_ipv6", 1, 1, rule("string", STR),
       lambda ip: "" if (n := _ipv6(ip)) is None else n.network_address.exploded),
    _F("has_ipv4", 2, 2, rule("bool", ANY, STR), _has_ipv4),
    _F("has_ipv4_prefix", 2, 2, rule("bool", ANY, STR), lambda s, p: _has_ipv4(s, p, prefix_match=True)),
    _F("has_any_ipv4", 2, 64, rule("bool"),
       lambda s, *ips: any(_has_ipv4(s, ip) for ip in (ips[0] if len(ips) == 1 and isinstance(ips[0], list)
                                                       else ips))),
    _F("has_any_ipv4_prefix", 2, 64, rule("bool"),
       lambda s, *ps: any(_has_ipv4(s, p, True) for p in (ps[0] if len(ps) == 1 and isinstance(ps[0], list)
                                                          else ps))),
    _F("parse_url", 1, 1, rule("dynamic", STR), _parse_url),
    _F("parseurl", 1, 1, rule("dynamic", STR), _parse_url),
    _F("parse_urlquery", 1, 1, rule("dynamic", STR), _parse_urlquery),
    _F("parseurlquery", 1, 1, rule("dynamic", STR), _parse_urlquery),
    _F("parse_path", 1, 1, rule("dynamic", STR), _parse_path),
    _F("parse_command_line", 2, 2, rule("dynamic", ANY, STR), _parse_command_line),
    _F("geo_info_from_ip_address", 1, 1, rule("dynamic", STR), lambda ip: {}),
]

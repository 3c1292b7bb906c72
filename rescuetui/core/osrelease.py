"""Parsers for /etc/os-release and /etc/redhat-release."""

from __future__ import annotations

import re
import shlex

_RH_RELEASE = re.compile(r"^(?P<name>.+?) release (?P<version>[\d.]+)")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell-style quoting, parsed (never evaluated); junk lines skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        try:
            parts = shlex.split(raw, posix=True)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key] = " ".join(parts)
    return values


def parse_redhat_release(text: str) -> dict[str, str]:
    """`CentOS Linux release 7.9.2009 (Core)` to os-release style keys."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = _RH_RELEASE.match(line)
    name = m.group("name") if m else line
    lowered = name.lower()
    ident = next(
        (
            i
            for key, i in (
                ("centos", "centos"),
                ("red hat", "rhel"),
                ("rocky", "rocky"),
                ("alma", "almalinux"),
                ("oracle", "ol"),
                ("fedora", "fedora"),
            )
            if key in lowered
        ),
        "rhel",
    )
    out = {"ID": ident, "ID_LIKE": "rhel fedora", "NAME": name, "PRETTY_NAME": line}
    if m:
        out["VERSION_ID"] = m.group("version")
    return out

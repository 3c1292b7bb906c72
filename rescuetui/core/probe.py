"""Filesystem and partition identity of one block device, from libblkid (or udev when it has data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import blkid

from rescuetui.core.text import from_disk

_KEYS = (
    "TYPE", "SEC_TYPE", "UUID", "UUID_SUB", "LABEL", "VERSION", "USAGE", "PTTYPE", "PTUUID",
    "PART_ENTRY_SCHEME", "PART_ENTRY_UUID", "PART_ENTRY_TYPE", "PART_ENTRY_NUMBER",
    "PART_ENTRY_NAME",
)
_UDEV_KEYS = {
    "ID_FS_TYPE": "TYPE", "ID_FS_UUID": "UUID", "ID_FS_UUID_SUB": "UUID_SUB",
    "ID_FS_LABEL": "LABEL", "ID_FS_VERSION": "VERSION", "ID_FS_USAGE": "USAGE",
    "ID_PART_TABLE_TYPE": "PTTYPE", "ID_PART_TABLE_UUID": "PTUUID",
    "ID_PART_ENTRY_SCHEME": "PART_ENTRY_SCHEME", "ID_PART_ENTRY_UUID": "PART_ENTRY_UUID",
    "ID_PART_ENTRY_TYPE": "PART_ENTRY_TYPE", "ID_PART_ENTRY_NUMBER": "PART_ENTRY_NUMBER",
    "ID_PART_ENTRY_NAME": "PART_ENTRY_NAME",
}


@dataclass(frozen=True)
class Identity:
    """What a device holds. Strings from the disk keep undecodable bytes (surrogateescape)."""

    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    version: str | None = None
    usage: str | None = None
    uuid_sub: str | None = None
    partition_table: str | None = None
    partition_table_uuid: str | None = None
    partition_scheme: str | None = None
    partuuid: str | None = None
    partition_type: str | None = None
    partlabel: str | None = None
    partition_number: int | None = None
    error: str | None = None
    source: str = "blkid"

    @classmethod
    def from_values(cls, values: Mapping[str, str], source: str) -> Identity:
        number = values.get("PART_ENTRY_NUMBER")
        return cls(
            fstype=values.get("TYPE"),
            uuid=values.get("UUID"),
            label=values.get("LABEL"),
            version=values.get("VERSION"),
            usage=values.get("USAGE"),
            uuid_sub=values.get("UUID_SUB"),
            partition_table=values.get("PTTYPE"),
            partition_table_uuid=values.get("PTUUID"),
            partition_scheme=values.get("PART_ENTRY_SCHEME"),
            partuuid=values.get("PART_ENTRY_UUID"),
            partition_type=values.get("PART_ENTRY_TYPE"),
            partlabel=values.get("PART_ENTRY_NAME"),
            partition_number=int(number) if number and number.isdigit() else None,
            source=source,
        )


def probe_device(path: str) -> Identity:
    """Probe `path` with libblkid's safe probe: partitions and superblocks together.

    An ambiguous result (two signatures on one device) or an unreadable device is reported in
    `error`, never raised: one odd disk must not stop the inventory of the others.
    """
    probe = blkid.Probe()
    try:
        try:
            probe.set_device(path)
            probe.enable_partitions(True)
            probe.set_partitions_flags(blkid.PARTS_ENTRY_DETAILS)
            probe.enable_superblocks(True)
            probe.set_superblocks_flags(
                blkid.SUBLKS_LABEL | blkid.SUBLKS_UUID | blkid.SUBLKS_TYPE
                | blkid.SUBLKS_USAGE | blkid.SUBLKS_VERSION | blkid.SUBLKS_SECTYPE
            )
            found = probe.do_safeprobe()
        except OSError as exc:
            return Identity(error=f"cannot read the device: {exc.strerror or exc}")
        except RuntimeError:
            return Identity(
                error="ambiguous: libblkid found more than one signature (see `wipefs -n "
                f"{path}`); it is not mounted or offered until that is resolved"
            )
        if not found:
            return Identity()
        values: dict[str, str] = {}
        for key in _KEYS:
            # lookup_value gives raw bytes; items() would fail on a label that is not UTF-8.
            try:
                raw = probe.lookup_value(key)
            except RuntimeError:
                continue
            values[key] = from_disk(raw) if isinstance(raw, bytes) else str(raw)
        return Identity.from_values(values, "blkid")
    finally:
        # The device is let go now, not when a traceback kept for a Ctrl-C lets go of
        # this frame: an open probe would keep a loop device attached past its detach.
        del probe


def udev_identity(properties: Mapping[str, str]) -> Identity | None:
    """Identity from the udev database, when a udev daemon has filled it in."""
    if "ID_FS_TYPE" not in properties and "ID_PART_TABLE_TYPE" not in properties:
        return None
    values = {ours: properties[theirs] for theirs, ours in _UDEV_KEYS.items() if theirs in properties}
    for encoded, key in (("ID_FS_LABEL_ENC", "LABEL"), ("ID_PART_ENTRY_NAME", "PART_ENTRY_NAME")):
        if encoded in properties:
            # udev writes unsafe bytes as \xNN; ID_FS_LABEL itself has them replaced by '_'.
            values[key] = from_disk(_unescape_udev(properties[encoded]))
    return Identity.from_values(values, "udev")


def _unescape_udev(value: str) -> bytes:
    out = bytearray()
    i = 0
    raw = value.encode("utf-8", "surrogateescape")
    while i < len(raw):
        if raw[i : i + 2] == b"\\x" and len(raw) >= i + 4:
            try:
                out.append(int(raw[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return bytes(out)

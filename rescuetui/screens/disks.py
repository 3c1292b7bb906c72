"""Step 2: the disks, their partitions and the installed systems found; one is preselected."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult

from rescuetui.core.inventory import Inventory
from rescuetui.core.target import Candidate
from rescuetui.core.text import printable
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.disk_bar import disk_bar
from rescuetui.widgets.menu import MenuList
from rescuetui.widgets.shown import Shown

LOCKED = {"crypto_LUKS": "encrypted (LUKS): give --key-file or --passphrase-stdin",
          "LVM2_member": "LVM physical volume: its volume group is opened automatically",
          "linux_raid_member": "md RAID member: give --assemble-raid"}


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def describe_disks(inventory: Inventory, width: int) -> list[str]:
    lines = []
    for disk in (d for d in inventory.devices if d.devtype == "disk"):
        parts = inventory.partitions_of(disk.path)
        if not parts and not disk.identity.fstype:
            continue
        own = "  (rescue system's own)" if disk.rescue_own else ""
        lines.append(f"{printable(disk.path)}  {_size(disk.size)}{own}")
        lines.append("  " + disk_bar(disk.size, [p.size for p in parts], width - 4))
        for part in parts:
            ident = part.identity
            label = f" [{printable(ident.label)}]" if ident.label else ""
            need = f"  {LOCKED[ident.fstype]}" if ident.fstype in LOCKED else ""
            lines.append(f"  {printable(part.path)}  {_size(part.size)}  "
                         f"{printable(ident.fstype or '-')}{label}{need}")
    return lines


class DisksScreen(FlowScreen):
    STEP = 2
    HELP = ("Every disk is listed with its partitions (the bar shows their sizes). The systems "
            "found are those whose filesystem holds /etc/os-release and /etc/fstab. One is "
            "preselected; move with the arrows if it is not the broken one, Enter mounts it "
            "read-only. The rescue system's own disk is never offered.")

    def __init__(self) -> None:
        super().__init__()
        self.candidates: list[Candidate] = []
        self.reply: Any = None

    def body(self) -> ComposeResult:
        yield Shown("Looking for disks and installed systems...", id="disks")
        yield MenuList([], id="systems")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def show_found(self, candidates: list[Candidate], inventory: Inventory, where: str,
                   reply: Any, notes: list[str] | None = None) -> None:
        """`notes`: what opening the disks' volumes said (a locked LUKS device, an LVM copy
        imported under a temporary name)."""
        self.candidates, self.reply = candidates, reply
        width = self.size.width or 80
        disks = describe_disks(inventory, width - 2)
        disks += [f"Note: {printable(note)}" for note in notes or []]
        if not candidates:
            disks.append(f"No installed Linux system on {where}.")
        else:
            disks.append("Installed systems (Enter mounts the highlighted one read-only):")
        self.query_one("#disks", Shown).update("\n".join(disks))
        menu = self.query_one("#systems", MenuList)
        menu.set_items([f"{printable(c.device.path)}  {printable(c.name)}"
                        for c in candidates])
        menu.focus()

    def on_menu_list_chosen(self, event: MenuList.Chosen) -> None:
        if self.reply is None:
            self.rescue.forward()
            return
        reply, self.reply = self.reply, None
        self.rescue.note_choice(event.index != 0)
        self.rescue.show_step("mount")
        reply(self.candidates[event.index])

    def action_proceed(self) -> None:
        if self.reply is not None and not self.candidates:
            reply, self.reply = self.reply, None
            reply(None)  # the engine says what is missing and how to go on
        elif self.reply is None:
            self.rescue.forward()

"""The disk drivers of the machine a system boots on, read from evidence: the kernel lines of its
console log (PCI ids, the hypervisor, drivers naming disks) and the system's own logs of
earlier boots. Not the rescue host's: it sees the disk as a loop device or through its own
controller, which says nothing about the VM the disk boots in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.core.text import printable
from rescuetui.diagnose.scanner import open_evidence

MAX_LINES = 200_000  # per log: the drivers show in the first seconds of a boot
PCI_DEVICE = re.compile(r"\bpci [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.\d: \[([0-9a-f]{4}):([0-9a-f]{4})\]"
                        r" type \S+ class 0x([0-9a-f]{6})")
# (vendor, device) -> the drivers that disk controller needs, nearest first.
PCI_DISKS = {
    ("1af4", "1001"): ("virtio_blk", "virtio_pci"),  # virtio block, legacy
    ("1af4", "1042"): ("virtio_blk", "virtio_pci"),  # virtio block, modern
    ("1af4", "1004"): ("virtio_scsi", "virtio_pci"),
    ("1af4", "1048"): ("virtio_scsi", "virtio_pci"),
    ("15ad", "07c0"): ("vmw_pvscsi",),
    ("1000", "0030"): ("mptspi",),
    ("1000", "0054"): ("mptsas",),
}
PCI_CLASSES = {"010802": ("nvme",), "010601": ("ahci",)}
# Kernel lines that name a disk through its driver, or the hypervisor whose disks they are.
DRIVER_LINES = (
    (re.compile(r"\bvirtio_blk virtio\d+: \[vd[a-z]+\]"), ("virtio_blk", "virtio_pci")),
    (re.compile(r"\bvirtio_scsi\b|\bscsi host\d+: Virtio SCSI"), ("virtio_scsi", "virtio_pci")),
    (re.compile(r"\bhv_storvsc\b|\bstorvsc\b|scsi host\d+: storvsc_host_t"),
     ("hv_vmbus", "hv_storvsc")),
    (re.compile(r"Hypervisor detected: Microsoft Hyper-V"), ("hv_vmbus", "hv_storvsc")),
    (re.compile(r"\bnvme nvme\d+: pci function|\bnvme\d+n\d+: p\d"), ("nvme",)),
    (re.compile(r"\bblkfront: xvd[a-z]+|xen_blkfront|Xen virtual block device"),
     ("xen_blkfront",)),
    (re.compile(r"\bahci [0-9a-f:.]+: AHCI"), ("ahci",)),
)
HYPERVISOR = re.compile(r"Hypervisor detected: (.+)$")


@dataclass
class MachineEvidence:
    drivers: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # "source: line" for each driver found
    hypervisor: str = ""

    def add(self, drivers: tuple[str, ...], source: str, line: str) -> None:
        new = [d for d in drivers if d not in self.drivers]
        if new:
            self.drivers += new
            self.evidence.append(f"{source}: {printable(line.strip()[:160])} -> {', '.join(new)}")


def scan_machine_lines(lines: list[str], source: str, found: MachineEvidence) -> None:
    for line in lines:
        pci = PCI_DEVICE.search(line)
        if pci:
            drivers = PCI_DISKS.get((pci.group(1), pci.group(2))) or PCI_CLASSES.get(pci.group(3))
            if drivers:
                found.add(drivers, source, line)
            continue
        hyper = HYPERVISOR.search(line)
        if hyper and not found.hypervisor:
            found.hypervisor = printable(hyper.group(1).strip()[:60])
        for pattern, drivers in DRIVER_LINES:
            if pattern.search(line):
                found.add(drivers, source, line)


def machine_drivers(logs: list[tuple[str, Path]]) -> MachineEvidence:
    """The disk drivers the evidence names, each with the line that named it."""
    found = MachineEvidence()
    for name, path in logs:
        try:
            with open_evidence(path) as f:
                lines = []
                for number, raw in enumerate(f):
                    if number >= MAX_LINES:
                        break
                    lines.append(raw.decode("utf-8", "replace"))
        except OSError:
            continue
        scan_machine_lines(lines, name, found)
    return found

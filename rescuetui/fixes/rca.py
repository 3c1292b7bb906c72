"""The root cause note written next to the journal after a repair (Markdown): what failed, why,
what fixed it, and what would have caught it sooner. The TUI shows it; `repair` writes it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rescuetui.core.text import markdown_code, without_controls
from rescuetui.diagnose.tree import NODES

# What would have made this failure visible (or impossible) before the next boot.
SOONER = {
    "initramfs": "Check that the kernel package's postinst hooks succeed (unattended-upgrades "
                 "mail, dpkg logs) and that /boot has room for two initramfs images; a boot test "
                 "after kernel updates catches a missing image before a reboot does.",
    "kernel-image": "Package verification (dpkg --verify / rpm -V of the kernel package) in "
                    "monitoring finds a damaged image before the next reboot; watch the disk's "
                    "SMART and I/O error counters.",
    "libraries": "File integrity monitoring (AIDE, dpkg --verify, rpm -Va) on /usr/lib finds a "
                 "deleted library while the running system still has it mapped.",
    "permissions": "Configuration management that owns modes (and never chmod -R on system "
                   "paths); rpm -Va / dpkg-statoverride reviews in change control.",
    "fstab": "Add nofail (and x-systemd.device-timeout) to data disks, and test fstab changes "
             "with `findmnt --verify` and `mount -a` before rebooting.",
    "bootloader": "Regenerate GRUB only on the system itself (not from a chroot without udev), "
                  "and check root= in grub.cfg after changes.",
    "filesystem": "Watch the kernel log for filesystem errors and run scheduled fsck / "
                  "xfs_scrub; shut down cleanly (hypervisor ACPI, not a hard stop).",
    "packages": "Package verification in monitoring catches silent corruption early.",
    "selinux": "Keep SELinux policy packages pinned with the kernel and test relabels in "
               "staging; check `sestatus` after policy changes.",
    "default-kernel": "Stage kernel updates: boot-test them on a canary before the fleet.",
    "module-blacklist": "Boot-test third-party modules (vendor agents, DKMS drivers) on a canary "
                        "after every kernel or module update, and sign them: an out-of-tree "
                        "module that faults at boot then never reaches the fleet.",
    "diagnosis": "Enable the serial console and kdump so the next panic leaves its text and a "
                 "vmcore.",
}
ALWAYS = ("Keep the serial console log of every boot (the hypervisor's boot diagnostics) and "
          "enable kdump: the next failure then explains itself.")


def rca_markdown(report: dict[str, Any]) -> str:
    out = ["# Root cause note", ""]
    diagnosis = report.get("diagnosis")
    out += ["## What failed", ""]
    if diagnosis:
        out.append(f"- {diagnosis['title']} ({markdown_code(diagnosis['class'])})"
                   + (f", kernel {markdown_code(diagnosis['kernel'])}"
                      if diagnosis.get("kernel") else "")
                   + f", from {markdown_code(diagnosis['source'])}.")
    else:
        out.append("- No console text or log named the failure; the checks found it on disk.")
    problems = list(report.get("applied", []))
    out += ["", "## Why", ""]
    for node_id in report.get("path", []):
        node = NODES.get(node_id)
        if node:
            out.append(f"- **{node.title}**: {node.explanation}")
    for applied in problems:
        out.append(f"- Found: {without_controls(applied['plan']['why'])}")
    out += ["", "## What fixed it", ""]
    if report.get("way"):
        out.append(f"- {without_controls(report['way'])}")
    if not problems:
        out.append("- Nothing was changed.")
    for applied in problems:
        state = "verified" if applied.get("verified") else (
            "superseded" if applied.get("superseded_by") else "NOT verified")
        out.append(f"- {markdown_code(applied['fix'])} ({state}): "
                   + "; ".join(markdown_code(" ".join(s["argv"])) for s in applied["plan"]["steps"])
                   + (" and file edits" if applied["plan"]["edits"] else ""))
        verification = applied.get("verification")
        if verification:
            out.append(f"  - check afterwards: {without_controls(verification['summary'])}")
    for refused in report.get("refused", []):
        out.append(f"- Not applied: {without_controls(refused)}")
    for remaining in report.get("remaining", []):
        out.append(f"- Still wrong: {without_controls(remaining['summary'])}")
    out += ["", "## What would have caught it sooner", ""]
    checks = {_check_of(a) for a in problems}
    for check in sorted(c for c in checks if c in SOONER):
        out.append(f"- {SOONER[check]}")
    out.append(f"- {ALWAYS}")
    out += ["", "Journal (every change, its backup and how to undo it): "
            + markdown_code(report["journal"]),
            ""]
    return "\n".join(out)


def _check_of(applied: dict[str, Any]) -> str:
    verification = applied.get("verification") or {}
    return str(verification.get("check", ""))


def write_rca(report: dict[str, Any], journal_dir: Path) -> Path | None:
    """rca.md in the session's journal directory (None when it cannot be written)."""
    path = journal_dir / "rca.md"
    try:
        path.write_text(rca_markdown(report))
    except OSError:
        return None
    return path

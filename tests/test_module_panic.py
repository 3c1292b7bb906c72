"""A run-time panic in a third-party module, from consoles recorded on real qemu boots of the
module-panic and newest-kernel-panics practice systems (an out-of-tree module built against the
practice kernels' own headers, loaded at boot, oopsing in its init with oops=panic): the
diagnosis names the module, its taint and the kernel; on the real disks the repair blacklists
the module and takes it out of the initramfs (one kernel), or boots the previous kernel (two),
and says which way it took and why. A real kdump of the same oops leaves a dmesg on the disk
that `diagnose --disk` reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, rescuetui

from rescuetui.checks.base import TargetContext
from rescuetui.core.session import RescueSession
from rescuetui.diagnose.classifier import diagnose_file
from rescuetui.diagnose.target_logs import diagnose_target
from rescuetui.fixes.module_blacklist import CONF, INITRAMFS_TOOLS_MODULES
from rescuetui.lab.boot import BootResult, boot, classify_log
from rescuetui.lab.faulty_module import LOAD_CONF, NAME, install_module, panic_on_oops
from rescuetui.lab.kdump import arm_vendor_service, boot_until_dumped, kdump_base
from rescuetui.lab.practice import copy_image
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

SERIAL = REPO / "tests/data/serial"
KERNEL_61 = "6.1.0-50-cloud-amd64"
KERNEL_612 = "6.12.95+deb12-cloud-amd64"
# Recorded console: (kernel that panicked, what loaded the module: initramfs-tools' modprobe,
# or systemd-modules-load).
RECORDED = {"module-panic.log": (KERNEL_61, "modprobe"),
            "newest-kernel-panics.log": (KERNEL_612, "systemd-modules")}


@pytest.mark.parametrize("log", sorted(RECORDED))
def test_recorded_module_panic_names_the_module_and_its_taint(log: str) -> None:
    kernel, comm = RECORDED[log]
    text = (SERIAL / log).read_text()
    assert f"Comm: {comm} Tainted:" in text
    assert classify_log(text)[0] == "panic"
    d = diagnose_file(SERIAL / log)
    assert d.class_id == "oops" and d.failed
    assert d.facts.kernel == kernel
    assert d.facts.rip is not None and d.facts.rip.startswith("acme_monitor_init+0x")
    assert d.facts.rip_module == NAME and d.facts.blamed_module == NAME
    assert d.facts.module_flags(NAME) == "OE+"
    assert d.facts.taint is not None and {"O", "E"} <= set(d.facts.taint)
    facts = d.to_json()["facts"]
    assert facts["blamed_module"] == {
        "name": NAME, "flags": "OE+",
        "described": f"{NAME} (OE+: out-of-tree module; unsigned module; being loaded)"}
    assert facts["faulting_module"] == NAME
    assert {t[0] for t in facts["taint_decoded"]} >= {"O", "E"}
    # The unsigned module's "module verification failed" line is seen, but the Oops decides.
    assert d.other_classes.get("module-sig") == 1


def test_diagnose_command_prints_the_blamed_module() -> None:
    out = rescuetui("diagnose", "--log", str(SERIAL / "module-panic.log"))
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr
    assert "faulting function acme_monitor_init+0x18/0x1000 [acme_monitor]" in text
    assert "module blamed: acme_monitor (OE+: out-of-tree module; unsigned module; being loaded)" in text
    assert "O: out-of-tree module loaded; E: unsigned module loaded" in text


@pytest.mark.parametrize(("log", "kernel"), [("module-panic.log", KERNEL_61),
                                             ("newest-kernel-panics.log", KERNEL_612),
                                             ("login.log", KERNEL_61)])
def test_boot_result_names_the_kernel_from_its_banner(log: str, kernel: str) -> None:
    result = BootResult("panic", 1.0, (SERIAL / log).read_text(), "")
    assert result.kernel == kernel and result.to_json()["kernel"] == kernel
    assert BootResult("grub-error", 1.0, "error: file `/vmlinuz' not found.\n", "").kernel is None


def _initramfs_listing(ctx: TargetContext, kernel: str) -> list[str]:
    listed = ctx.chroot("lsinitramfs", f"/boot/initrd.img-{kernel}")
    assert listed.ok, listed.describe_failure()
    return listed.tail


@pytest.mark.root
@pytest.mark.slow
def test_module_panic_repair_blacklists_and_empties_the_initramfs(tmp_path: Path) -> None:
    image = tmp_path / "module-panic.img"
    build_scenario(SCENARIOS["module-panic"], image, journal_base=tmp_path / "build")
    with RescueSession(journal_base=tmp_path / "j0") as session:
        target = session.open_target(str(image))
        ctx = TargetContext(session.root, target, session.runner, KERNEL_61)
        assert any(line.endswith(f"/updates/{NAME}.ko") for line in _initramfs_listing(ctx, KERNEL_61))
    out = rescuetui("repair", "--disk", str(image), "--log", str(SERIAL / "module-panic.log"),
                    "--yes", "--json", "--journal", str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    assert out.returncode == 0, report
    assert report["way"].startswith(f"Way out: keep {NAME} from loading")
    assert "no kernel other than it is installed" in report["way"]
    assert [a["fix"] for a in report["applied"]] == ["module-blacklist"]
    fix = report["applied"][0]
    assert fix["verified"] and "does not carry it." in fix["verification"]["summary"]
    journal = Path(report["journal"]) / "journal.jsonl"
    decisions = [json.loads(line) for line in journal.read_text().splitlines()]
    assert any(r.get("question") == "way out of the run-time panic" and r.get("answer") == report["way"]
               for r in decisions)
    with RescueSession(journal_base=tmp_path / "j2") as session:
        target = session.open_target(str(image))
        ctx = TargetContext(session.root, target, session.runner, KERNEL_61)
        conf = ctx.files.read_text(CONF)
        assert f"blacklist {NAME}\ninstall {NAME} /bin/false\n" in conf
        listed = ctx.files.read_text(INITRAMFS_TOOLS_MODULES)
        assert f"# rescuetui: blamed for the crash of kernel {KERNEL_61}: {NAME}" in listed
        listing = _initramfs_listing(ctx, KERNEL_61)
        assert listing and not any(NAME in line for line in listing)
        # The module stays installed, and modules-load.d still names it: the blacklist is what
        # systemd-modules-load honours (the boot in `lab verify module-panic` shows it).
        assert ctx.files.is_file(f"/lib/modules/{KERNEL_61}/updates/{NAME}.ko")
        assert (ctx.files.read_text(LOAD_CONF) or "").endswith(f"{NAME}\n")


@pytest.mark.root
@pytest.mark.slow
def test_newest_kernel_panics_repair_boots_the_previous_kernel_and_says_why(tmp_path: Path) -> None:
    image = tmp_path / "newest-kernel-panics.img"
    build_scenario(SCENARIOS["newest-kernel-panics"], image, journal_base=tmp_path / "build")
    out = rescuetui("repair", "--disk", str(image), "--log",
                    str(SERIAL / "newest-kernel-panics.log"), "--yes", "--json",
                    "--journal", str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    assert out.returncode == 0, report
    assert report["diagnosis"]["kernel"] == KERNEL_612
    assert report["way"].startswith(f"Way out: boot the previous kernel {KERNEL_61}, not a blacklist.")
    assert f"kernel {KERNEL_61} has no {NAME}" in report["way"]
    assert "previous-kernel" in [a["fix"] for a in report["applied"]]
    assert "module-blacklist" not in [a["fix"] for a in report["applied"]]
    fix = next(a for a in report["applied"] if a["fix"] == "previous-kernel")
    assert fix["verified"] and report["way"] in fix["plan"]["why"]
    rca = Path(report["rca"]).read_text()
    assert report["way"] in rca
    with RescueSession(journal_base=tmp_path / "j2") as session:
        target = session.open_target(str(image))
        ctx = TargetContext(session.root, target, session.runner, KERNEL_612)
        assert not ctx.files.exists(CONF)  # the way not taken left nothing behind
        assert ctx.files.is_file(f"/lib/modules/{KERNEL_612}/updates/{NAME}.ko")


# The dmesg kdump-tools saved (makedumpfile --dump-dmesg) after the module's oops on a real
# boot of the kdump practice base (lab/kdump.py), as it lies in /var/crash.
KDUMP_DMESG = REPO / "tests/data/kdump/module-panic.dmesg.202612020624"


def test_kdump_dmesg_on_the_disk_names_class_and_module(tmp_path: Path) -> None:
    crash = tmp_path / "var/crash/202612020624"
    crash.mkdir(parents=True)
    shutil.copyfile(KDUMP_DMESG, crash / KDUMP_DMESG.name.removeprefix("module-panic."))
    (diagnosis,), _ = diagnose_target(tmp_path)
    assert diagnosis.source == "/var/crash/202612020624/dmesg.202612020624"
    assert diagnosis.class_id == "oops" and diagnosis.failed
    assert diagnosis.facts.kernel == KERNEL_61
    assert diagnosis.facts.blamed_module == NAME and diagnosis.facts.module_flags(NAME) == "OE+"
    assert diagnosis.facts.taint is not None and {"O", "E"} <= set(diagnosis.facts.taint)


def test_a_dump_that_is_not_one_becomes_a_note_not_evidence(tmp_path: Path) -> None:
    """A crash directory with a "dump" of garbage and no log: the host's makedumpfile is asked
    for its log, fails, and the operator is told; nothing is diagnosed from it."""
    if shutil.which("makedumpfile") is None:
        pytest.skip("makedumpfile is not installed (run `make setup`)")
    crash = tmp_path / "var/crash/202612021200"
    crash.mkdir(parents=True)
    (crash / "dump.202612021200").write_bytes(b"\x1b[2J not a dump\n" * 1000)
    # One that says it is makedumpfile's flattened format (kdump-tools' own) and is not.
    flat = tmp_path / "var/crash/202612021202"
    flat.mkdir()
    (flat / "dump.202612021202").write_bytes(b"makedumpfile" + b"\0" * 4096)
    (crash / "elsewhere").symlink_to("/etc/hostname")
    (crash / "dump.202612021201").symlink_to("/etc/hostname")  # never followed
    diagnoses, evidence = diagnose_target(tmp_path)
    assert diagnoses == []
    notes = sorted(evidence.notes)
    assert notes[0].startswith("/var/crash/202612021200/dump.202612021200: its kernel log could "
                               "not be extracted (makedumpfile --dump-dmesg exited "), notes
    assert notes[1].startswith("/var/crash/202612021202/dump.202612021202: its kernel log could "
                               "not be extracted (makedumpfile "), notes
    assert len(notes) == 2


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.boot
def test_a_real_kdump_of_the_module_panic_is_read_by_diagnose_disk(tmp_path: Path) -> None:
    """Boots for about five minutes under TCG: the system arms kdump (building its crash
    initramfs on the VM), the vendor service loads the module, the oops starts the crash
    kernel, which saves /var/crash/STAMP/dmesg.STAMP and the dump beside it and resets the
    machine. Read from the saved log, then from the dump alone."""
    image = tmp_path / "kdump.img"
    copy_image(kdump_base(), image)
    with RescueSession(journal_base=tmp_path / "build") as session:
        target = session.open_target(str(image))
        session.make_writable()
        install_module(session, target.kernels[0].version, load_at_boot=False)
        arm_vendor_service(session)
        panic_on_oops(session)
    console = boot_until_dumped(image, timeout=900)
    (tmp_path / "console.log").write_text(console)
    # With kdump armed and oops=panic, the oops goes straight to the crash kernel: no "Kernel
    # panic" line, but a second kernel banner.
    assert "loaded kdump kernel" in console and "RIP: 0010:acme_monitor_init+" in console
    assert console.count("Linux version 6.1.0") == 2
    assert "saved dmesg content in /var/crash/" in console
    out = rescuetui("diagnose", "--disk", str(image), "--json", timeout=300)
    report = json.loads(out.stdout)
    assert report["class"] == "oops", report
    assert report["source"].startswith("/var/crash/") and "/dmesg." in report["source"]
    assert report["facts"]["blamed_module"]["name"] == NAME
    assert report["facts"]["blamed_module"]["flags"] == "OE+"
    # The same crash with its dump alone (the log file lost): the log is extracted from the
    # dump with makedumpfile --dump-dmesg, with the same conclusion.
    with RescueSession(journal_base=tmp_path / "lose-the-log") as session:
        session.open_target(str(image))
        session.make_writable()
        saved_log = session.root / report["source"].lstrip("/")
        dumps = list(saved_log.parent.glob("dump.*"))
        assert dumps and saved_log.is_file(), list(saved_log.parent.iterdir())
        saved_log.unlink()
    out = rescuetui("diagnose", "--disk", str(image), "--json", timeout=300)
    report = json.loads(out.stdout)
    assert report["source"] == (f"/var/crash/{dumps[0].parent.name}/{dumps[0].name} "
                                "(its kernel log, by makedumpfile --dump-dmesg)"), report
    assert report["class"] == "oops" and report["facts"]["blamed_module"]["name"] == NAME
    # Repaired from that evidence alone (no console log): the service's modprobe is what loads
    # it at boot, so the blacklist is the way out; the next boot reaches its login, the vendor
    # service failing (its modprobe runs the install command, /bin/false).
    out = rescuetui("repair", "--disk", str(image), "--yes", "--json", "--journal",
                    str(tmp_path / "j"), timeout=900)
    repaired = json.loads(out.stdout)
    assert out.returncode == 0, repaired
    assert repaired["diagnosis"]["source"] == report["source"]
    assert "/etc/systemd/system/acme-monitor.service" in repaired["way"]
    assert [(a["fix"], a["verified"]) for a in repaired["applied"]] == [("module-blacklist", True)]
    after = boot(image, timeout=600)
    assert (after.outcome, after.kernel) == ("login", KERNEL_61), after.evidence
    assert any("Failed to start" in line and "ACME monitoring agent" in line
               for line in after.log.splitlines())

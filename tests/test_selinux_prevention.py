"""The SELinux check and its fixes (permissive, relabel), and the prevention fixes (serial
console, kdump), against fixture trees of every family: exact findings, exact argv lists, exact
file contents, idempotence, hostile config files, and file edits applied for real through the
journal and undone again. Nothing here runs a command: the runner is dry-run."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_context

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.selinux import check_selinux, needs_relabel
from rescuetui.core.journal import Journal
from rescuetui.core.undo import undo_session
from rescuetui.fixes.base import FixPlan
from rescuetui.fixes.prevention import plan_kdump, plan_serial_console, verify_kdump, verify_serial_console
from rescuetui.fixes.selinux import plan_selinux_permissive, plan_selinux_relabel

ROOT_UUID = "0a1b2c3d-1111-4222-8333-444455556666"
FAMILIES = {
    "debian12": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
                 "6.1.0-25-cloud-amd64", "/boot/grub/grub.cfg"),
    "rocky9": ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
               "5.14.0-427.13.1.el9_4.x86_64", "/boot/grub2/grub.cfg"),
    "sles15": ('ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\n', "5.14.21-150500.55.65-default",
               "/boot/grub2/grub.cfg"),
    "azurelinux3": ('ID=azurelinux\nVERSION_ID="3.0"\n', "6.6.47.1-1.azl3",
                    "/boot/grub2/grub.cfg"),
    "arch": ("ID=arch\n", "6.10.10-arch1-1", "/boot/grub/grub.cfg"),
}
DEFAULT_GRUB = {
    "debian12": (b"# If you change this file, run 'update-grub' afterwards to update\n"
                 b"# /boot/grub/grub.cfg.\n\n"
                 b"GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
                 b"GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n"
                 b'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n\n'
                 b"# Uncomment to disable graphical terminal (grub-pc only)\n"
                 b"#GRUB_TERMINAL=console\n"),
    "rocky9": (b"GRUB_TIMEOUT=5\n"
               b"GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\n"
               b"GRUB_DEFAULT=saved\nGRUB_DISABLE_SUBMENU=true\n"
               b'GRUB_TERMINAL_OUTPUT="console"\n'
               b'GRUB_CMDLINE_LINUX="resume=/dev/mapper/rl-swap rd.lvm.lv=rl/root '
               b'rd.lvm.lv=rl/swap rhgb quiet"\n'
               b'GRUB_DISABLE_RECOVERY="true"\nGRUB_ENABLE_BLSCFG=true\n'),
    "sles15": (b"# If you change this file, run 'grub2-mkconfig -o /boot/grub2/grub.cfg'\n\n"
               b"GRUB_DISTRIBUTOR=\nGRUB_DEFAULT=saved\nGRUB_TIMEOUT=8\n"
               b'GRUB_CMDLINE_LINUX_DEFAULT="splash=silent mitigations=auto quiet"\n'
               b'GRUB_CMDLINE_LINUX=""\nGRUB_TERMINAL="gfxterm"\nGRUB_GFXMODE="auto"\n'),
    "azurelinux3": (b'GRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR="AzureLinux"\nGRUB_DISABLE_SUBMENU=y\n'
                    b'GRUB_TERMINAL_OUTPUT="console"\n'
                    b'GRUB_CMDLINE_LINUX="      rd.auto=1 net.ifnames=0 lockdown=integrity "\n'),
    "arch": (b"# GRUB boot loader configuration\n\nGRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
             b'GRUB_DISTRIBUTOR="Arch"\nGRUB_CMDLINE_LINUX_DEFAULT="loglevel=3 quiet"\n'
             b'GRUB_CMDLINE_LINUX=""\n\n# Uncomment to use basic console\n'
             b"GRUB_TERMINAL_INPUT=console\n"),
}
SERIAL_LINES = (b'GRUB_TERMINAL="console serial"\n'
                b'GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no '
                b'--stop=1"\n')
CONSOLE = "console=tty0 console=ttyS0,115200n8"
RHEL_CRASH = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
RHEL_SELINUX = (b"# This file sets the SELinux state at boot.\n"
                b"# SELINUX= takes one of: enforcing, permissive, disabled.\n"
                b"SELINUX=enforcing\n"
                b"# SELINUXTYPE= names the policy: targeted, minimum or mls.\n"
                b"SELINUXTYPE=targeted\n")


def _fixture_tree(root: Path, name: str, *, args: str = "ro",
                  default_grub: bool = True) -> TargetContext:
    os_release, version, grub = FAMILIES[name]
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/fstab").write_text(f"UUID={ROOT_UUID} / xfs defaults 0 0\n")
    (root / "boot").mkdir()
    modules = root / "lib/modules" / version
    modules.mkdir(parents=True)
    image = "vmlinuz-linux" if name == "arch" else f"vmlinuz-{version}"
    (root / "boot" / image).write_bytes(b"kernel")
    if name == "arch":
        (modules / "pkgbase").write_text("linux\n")
    (root / grub.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    if default_grub:
        (root / "etc/default/grub").write_bytes(DEFAULT_GRUB[name])
    (root / grub.lstrip("/")).write_text("")
    ctx = fixture_context(root, os_release, uuid=ROOT_UUID)
    _set_entries(ctx, args)
    return ctx


def _set_entries(ctx: TargetContext, args: str) -> None:
    """What grub-mkconfig or grubby leave behind: the one entry's kernel command line."""
    config = ctx.target.bootloader_config
    assert config is not None
    image = ctx.target.kernels[0].image
    (ctx.root / config.lstrip("/")).write_text(
        f"menuentry 'x' {{\n  linux /boot/{image} root=UUID={ROOT_UUID} {args}\n}}\n")


def _selinux(root: Path, config: bytes | None, *policies: str) -> None:
    (root / "etc/selinux").mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "etc/selinux/config").write_bytes(config)
    for policy in policies:
        (root / "etc/selinux" / policy / "policy").mkdir(parents=True)
        (root / "etc/selinux" / policy / "policy/policy.33").write_bytes(b"\x8c\xff\x7c\xf9policy")


def _apply(ctx: TargetContext, plan: FixPlan, journal: Journal) -> None:
    """The file part of apply_plan, for real (the steps would need the target's own tools)."""
    assert not plan.blocked
    for edit in plan.edits:
        assert edit.content is not None and edit.mode is None
        journal.change_file(ctx.root, edit.path, edit.content, reason=edit.reason)


def _undo(ctx: TargetContext, journal: Journal, tmp_path: Path) -> None:
    report = undo_session(journal, ctx.root, Journal.create(tmp_path / "undo"))
    assert not report.skipped


def _finding(check: str = "selinux") -> Finding:
    return Finding(check, False, "x", "the finding's summary")


def _argv(plan: FixPlan) -> list[list[str]]:
    assert all(step.in_chroot for step in plan.steps)
    return [step.argv for step in plan.steps]


# -- the SELinux check ---------------------------------------------------------------------------

CHECK_CASES: list[tuple[str, bytes | None, tuple[str, ...], str, dict[str, Any]]] = [
    ("enforcing, policy installed", RHEL_SELINUX, ("targeted",), "ok",
     {"mode": "enforcing", "type": "targeted",
      "policy": "/etc/selinux/targeted/policy/policy.33"}),
    ("permissive, policy installed", b"SELINUX=permissive\nSELINUXTYPE=targeted\n", ("targeted",),
     "ok", {"mode": "permissive"}),
    ("disabled, no policy", b"SELINUX=disabled\nSELINUXTYPE=targeted\n", (), "ok",
     {"mode": "disabled"}),
    ("no config at all", None, (), "ok", {"mode": None, "type": None}),
    ("enforcing, policy missing", RHEL_SELINUX, (), "policy-missing",
     {"mode": "enforcing", "type": "targeted", "config": "/etc/selinux/config", "cmdline": []}),
    ("permissive, mls missing", b"SELINUX=permissive\nSELINUXTYPE=mls\n", ("targeted",),
     "policy-missing", {"mode": "permissive", "type": "mls"}),
    ("no type: targeted by default", b"SELINUX=enforcing\n", ("targeted",), "ok",
     {"type": "targeted"}),
    ("mixed case and a comment", b"SELINUX=Enforcing   # set by the installer\n", ("targeted",),
     "ok", {"mode": "enforcing"}),
    ("unknown value, then a good one", b"SELINUX=bogus\nSELINUX=permissive\n", ("targeted",),
     "ok", {"mode": "permissive"}),
    ("unknown value", b"SELINUX=enforce\nSELINUXTYPE=targeted\n", ("targeted",), "syntax",
     {"mode": None, "line": 1, "value": "enforce"}),
    ("quoted value", b'SELINUX="enforcing"\n', ("targeted",), "syntax",
     {"value": '"enforcing"'}),
    ("indented line", b"  SELINUX=enforcing\n", ("targeted",), "syntax", {"line": None}),
    ("empty file", b"", ("targeted",), "syntax", {"line": None}),
    ("binary junk", b"\x7fELF\x02\x01\x00\x00SELINUX\xff\xfe\n\x00\x00\x9b2J", ("targeted",),
     "syntax", {"line": None}),
    ("CRLF line endings", b"SELINUX=enforcing\r\nSELINUXTYPE=targeted\r\n", ("targeted",), "ok",
     {"mode": "enforcing", "type": "targeted"}),
    ("no newline at the end", b"SELINUX=permissive\nSELINUXTYPE=targeted", ("targeted",), "ok",
     {"type": "targeted"}),
    ("a path as the type", b"SELINUX=enforcing\nSELINUXTYPE=../../etc\n", ("targeted",),
     "syntax", {"value": "../../etc"}),
]


@pytest.mark.parametrize("case", CHECK_CASES, ids=[c[0] for c in CHECK_CASES])
def test_check_selinux_findings(tmp_path: Path, case: tuple[Any, ...]) -> None:
    _, config, policies, expected, data = case
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, config, *policies)
    finding = check_selinux(ctx)
    assert finding.finding == expected, finding.summary
    assert finding.ok == (expected == "ok")
    assert {k: finding.data.get(k) for k in data} == data
    assert "\x00" not in finding.summary and "\x1b" not in finding.summary


def test_binary_config_says_so(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, b"\x00\x00\xff\xfe\nSELINUX=\x1b[2J\n", "targeted")
    finding = check_selinux(ctx)
    assert finding.finding == "syntax"
    assert any("binary" in e for e in finding.evidence)
    assert "\\x1b" in finding.summary  # shown escaped, never sent to the terminal


def test_empty_policy_file_is_missing(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, RHEL_SELINUX, "targeted")
    (ctx.root / "etc/selinux/targeted/policy/policy.33").write_bytes(b"")
    finding = check_selinux(ctx)
    assert finding.finding == "policy-missing"
    assert "Failed to load SELinux policy" in finding.summary


def test_kernel_command_line_overrides_are_evidence(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9", args="ro selinux=0 enforcing=0")
    _selinux(ctx.root, RHEL_SELINUX)
    finding = check_selinux(ctx)
    assert finding.finding == "policy-missing"
    assert finding.data["cmdline"] == ["enforcing=0", "selinux=0"]
    assert any("selinux=0" in e for e in finding.evidence)


def test_rhel8_kernelopts_and_bls_entries_are_read(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    entries = ctx.root / "boot/loader/entries"
    entries.mkdir(parents=True)
    (entries / "abc-5.14.conf").write_text("title Rocky\nlinux /vmlinuz\noptions $kernelopts\n")
    (ctx.root / "boot/grub2/grubenv").write_text(
        "# GRUB Environment Block\nkernelopts=root=/dev/sda2 ro enforcing=0\n")
    _selinux(ctx.root, RHEL_SELINUX, "targeted")
    assert check_selinux(ctx).data["cmdline"] == ["enforcing=0"]


# -- labels --------------------------------------------------------------------------------------

def _labelled_tree(tmp_path: Path) -> TargetContext:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, RHEL_SELINUX, "targeted")
    (ctx.root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    (ctx.root / "etc/shadow").write_text("root:*:19000::::::\n")
    (ctx.root / "usr/lib/systemd").mkdir(parents=True)
    (ctx.root / "usr/lib/systemd/systemd").write_bytes(b"\x7fELF")
    (ctx.root / "sbin").mkdir()
    (ctx.root / "sbin/init").symlink_to("/usr/lib/systemd/systemd")  # resolved in the target
    return ctx


def test_unlabeled_files_with_real_xattrs(tmp_path: Path) -> None:
    ctx = _labelled_tree(tmp_path)
    label = b"system_u:object_r:etc_t:s0\x00"
    try:
        os.setxattr(ctx.root / "etc/passwd", "security.selinux", label)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
            pytest.skip(f"{tmp_path} cannot hold security.selinux attributes here "
                        f"({exc.strerror}); the logic is covered by the monkeypatched test")
        raise
    os.setxattr(ctx.root / "usr/lib/systemd/systemd", "security.selinux", label)
    finding = check_selinux(ctx)
    assert finding.finding == "unlabeled" and finding.data["files"] == ["/etc/shadow"]
    assert needs_relabel(ctx)
    os.setxattr(ctx.root / "etc/shadow", "security.selinux", b"system_u:object_r:shadow_t:s0\x00")
    assert check_selinux(ctx).finding == "ok" and not needs_relabel(ctx)
    os.setxattr(ctx.root / "etc/shadow", "security.selinux",
                b"system_u:object_r:unlabeled_t:s0\x00")
    assert check_selinux(ctx).data["files"] == ["/etc/shadow"]
    (ctx.root / ".autorelabel").write_bytes(b"")
    finding = check_selinux(ctx)
    assert finding.finding == "ok" and finding.data["relabel_scheduled"]
    assert not needs_relabel(ctx)


def test_unlabeled_logic_on_any_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _labelled_tree(tmp_path)

    def no_attribute(path: Any, name: str, *, follow_symlinks: bool = True) -> bytes:
        raise OSError(errno.ENODATA, "No data available")

    def no_support(path: Any, name: str, *, follow_symlinks: bool = True) -> bytes:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "getxattr", no_attribute)
    finding = check_selinux(ctx)
    assert finding.finding == "unlabeled"
    assert finding.data["files"] == ["/etc/passwd", "/etc/shadow", "/sbin/init"]
    assert needs_relabel(ctx)
    (ctx.root / "etc/selinux/config").write_bytes(b"SELINUX=disabled\n")
    assert not needs_relabel(ctx)
    (ctx.root / "etc/selinux/config").write_bytes(RHEL_SELINUX)
    monkeypatch.setattr(os, "getxattr", no_support)
    finding = check_selinux(ctx)
    assert finding.finding == "ok" and not needs_relabel(ctx)
    assert any("extended attributes" in e for e in finding.evidence)


# -- selinux-permissive --------------------------------------------------------------------------

def test_permissive_changes_only_the_mode_line(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, RHEL_SELINUX)
    finding = check_selinux(ctx)
    plan = plan_selinux_permissive(ctx, finding)
    expected = RHEL_SELINUX.replace(b"\nSELINUX=enforcing\n", b"\nSELINUX=permissive\n")
    assert plan.fix == "selinux-permissive" and not plan.blocked and not plan.steps
    assert [(e.path, e.content) for e in plan.edits] == [("/etc/selinux/config", expected)]
    assert "-SELINUX=enforcing\n+SELINUX=permissive\n" in plan.diff
    assert "enforces nothing" in plan.risk and "undo" in plan.undo
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    assert (ctx.root / "etc/selinux/config").read_bytes() == expected
    again = plan_selinux_permissive(ctx, check_selinux(ctx))
    assert not again.edits and "already permissive" in again.why
    _undo(ctx, journal, tmp_path)
    assert (ctx.root / "etc/selinux/config").read_bytes() == RHEL_SELINUX


@pytest.mark.parametrize("before, after", [
    (b"# c\r\nSELINUX=enforcing # keep\r\nSELINUXTYPE=targeted",
     b"# c\r\nSELINUX=permissive # keep\r\nSELINUXTYPE=targeted"),
    (b'SELINUX="enforcing"\nSELINUXTYPE=targeted\n', b"SELINUX=permissive\nSELINUXTYPE=targeted\n"),
    (b"SELINUX=\tEnforcing\n\xff\xfe latin-1 comment \xe9\n",
     b"SELINUX=\tpermissive\n\xff\xfe latin-1 comment \xe9\n"),
    (b"SELINUX=bogus\nSELINUX=enforcing\n", b"SELINUX=bogus\nSELINUX=permissive\n"),
])
def test_permissive_keeps_every_other_byte(tmp_path: Path, before: bytes, after: bytes) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, before, "targeted")
    plan = plan_selinux_permissive(ctx, check_selinux(ctx))
    assert [e.content for e in plan.edits] == [after]
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    assert (ctx.root / "etc/selinux/config").read_bytes() == after
    _undo(ctx, journal, tmp_path)
    assert (ctx.root / "etc/selinux/config").read_bytes() == before


@pytest.mark.parametrize("config, why", [
    (None, "no /etc/selinux/config"),
    (b"SELINUX=disabled\n", "disabled"),
    (b"\x00\x01\x02junk\xff", "no selinux= line"),
    (b"   SELINUX=enforcing\n", "no selinux= line"),
])
def test_permissive_refuses_what_it_cannot_edit(tmp_path: Path, config: bytes | None,
                                                why: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, config, "targeted")
    plan = plan_selinux_permissive(ctx, _finding())
    assert why in plan.blocked.lower() and not plan.edits


def test_permissive_refuses_a_symlinked_config(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, None)
    (ctx.root / "etc/sysconfig").mkdir()
    (ctx.root / "etc/sysconfig/selinux").write_bytes(RHEL_SELINUX)
    (ctx.root / "etc/selinux/config").symlink_to("../sysconfig/selinux")
    plan = plan_selinux_permissive(ctx, _finding())
    assert "symbolic link" in plan.blocked and not plan.edits


def test_permissive_warns_of_enforcing_on_the_command_line(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9", args="ro enforcing=1")
    _selinux(ctx.root, RHEL_SELINUX)
    assert "enforcing=1" in plan_selinux_permissive(ctx, _finding()).risk


# -- selinux-relabel -----------------------------------------------------------------------------

def test_relabel_creates_autorelabel_and_undo_removes_it(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, RHEL_SELINUX, "targeted")
    plan = plan_selinux_relabel(ctx, _finding())
    assert plan.fix == "selinux-relabel" and not plan.blocked and not plan.steps
    assert [(e.path, e.content) for e in plan.edits] == [("/.autorelabel", b"")]
    assert "enforcing=0" in plan.risk and "reboots once" in plan.risk
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    assert (ctx.root / ".autorelabel").read_bytes() == b""
    again = plan_selinux_relabel(ctx, _finding())
    assert not again.edits and "already exists" in again.why
    _undo(ctx, journal, tmp_path)
    assert not (ctx.root / ".autorelabel").exists()


def test_relabel_when_permissive_needs_no_enforcing_hint(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, b"SELINUX=permissive\n", "targeted")
    plan = plan_selinux_relabel(ctx, _finding())
    assert plan.edits and "enforcing=0" not in plan.risk


@pytest.mark.parametrize("config, policies, why", [
    (None, (), "no /etc/selinux/config"),
    (b"SELINUX=disabled\n", ("targeted",), "disabled"),
    (b"SELINUX=enforce\n", ("targeted",), "not set to a known mode"),
    (RHEL_SELINUX, (), "not installed"),
    (b"\xff\x00" * 64, ("targeted",), "not set to a known mode"),
])
def test_relabel_is_blocked_without_a_working_selinux(
        tmp_path: Path, config: bytes | None, policies: tuple[str, ...], why: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    _selinux(ctx.root, config, *policies)
    plan = plan_selinux_relabel(ctx, _finding())
    assert why in plan.blocked.lower() and not plan.edits


# -- serial console ------------------------------------------------------------------------------

SERIAL_STEPS = {
    "debian12": [["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]],
    "arch": [["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]],
    "sles15": [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]],
    "rocky9": [["grubby", "--update-kernel=ALL", f"--args={CONSOLE}"]],
    "azurelinux3": [["grubby", "--update-kernel=ALL", f"--args={CONSOLE}"]],
}
SERIAL_GRUB = {
    "debian12": DEFAULT_GRUB["debian12"].replace(
        b'GRUB_CMDLINE_LINUX=""', f'GRUB_CMDLINE_LINUX="{CONSOLE}"'.encode()) + SERIAL_LINES,
    "arch": DEFAULT_GRUB["arch"].replace(
        b'GRUB_CMDLINE_LINUX=""', f'GRUB_CMDLINE_LINUX="{CONSOLE}"'.encode()) + SERIAL_LINES,
    "sles15": DEFAULT_GRUB["sles15"].replace(
        b'GRUB_CMDLINE_LINUX=""\nGRUB_TERMINAL="gfxterm"\n',
        f'GRUB_CMDLINE_LINUX="{CONSOLE}"\nGRUB_TERMINAL="console serial"\n'.encode())
    + SERIAL_LINES.split(b"\n", 1)[1],
    "rocky9": DEFAULT_GRUB["rocky9"].replace(b'rhgb quiet"', f'rhgb quiet {CONSOLE}"'.encode())
    + SERIAL_LINES,
    "azurelinux3": DEFAULT_GRUB["azurelinux3"].replace(
        b'lockdown=integrity "', f'lockdown=integrity {CONSOLE}"'.encode()) + SERIAL_LINES,
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_serial_console_per_family(tmp_path: Path, name: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", name)
    plan = plan_serial_console(ctx, _finding("target-logs"))
    assert plan.fix == "serial-console" and not plan.blocked
    assert _argv(plan) == SERIAL_STEPS[name]
    assert [(e.path, e.content) for e in plan.edits] == [("/etc/default/grub", SERIAL_GRUB[name])]
    assert '+GRUB_TERMINAL="console serial"' in plan.diff
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    assert (ctx.root / "etc/default/grub").read_bytes() == SERIAL_GRUB[name]
    # the file alone is not enough: the boot entries still lack the console
    assert _argv(plan_serial_console(ctx, _finding())) == SERIAL_STEPS[name]
    _set_entries(ctx, f"ro {CONSOLE}")  # what the step leaves behind
    again = plan_serial_console(ctx, _finding())
    assert not again.steps and not again.edits and "already configured" in again.why
    _undo(ctx, journal, tmp_path)
    assert (ctx.root / "etc/default/grub").read_bytes() == DEFAULT_GRUB[name]


def test_serial_console_regenerates_a_stale_grub_cfg_only(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    (ctx.root / "etc/default/grub").write_bytes(SERIAL_GRUB["debian12"])
    plan = plan_serial_console(ctx, _finding())
    assert not plan.edits and _argv(plan) == SERIAL_STEPS["debian12"]


@pytest.mark.parametrize("before, after", [
    # ttyS0 must be the last console (it becomes /dev/console); an existing VT console stays
    (b'GRUB_CMDLINE_LINUX="console=ttyS0,9600 console=tty1 quiet"\n',
     b'GRUB_CMDLINE_LINUX="console=tty1 quiet console=ttyS0,115200n8"\n'),
    (b'GRUB_CMDLINE_LINUX="quiet console=ttyS0,115200n8"\n',
     b'GRUB_CMDLINE_LINUX="quiet console=tty0 console=ttyS0,115200n8"\n'),
    (b'GRUB_CMDLINE_LINUX="console=tty1 console=ttyS0,38400"\n',
     b'GRUB_CMDLINE_LINUX="console=tty1 console=ttyS0,38400"\n'),
    (b"export GRUB_CMDLINE_LINUX='quiet' # ours\n",
     b"export GRUB_CMDLINE_LINUX='quiet console=tty0 console=ttyS0,115200n8' # ours\n"),
    (b"GRUB_CMDLINE_LINUX=quiet\n", b'GRUB_CMDLINE_LINUX="quiet console=tty0 '
     b'console=ttyS0,115200n8"\n'),
    (b'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX b"\n',
     b'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX b console=tty0 '
     b'console=ttyS0,115200n8"\n'),
])
def test_serial_console_command_line(tmp_path: Path, before: bytes, after: bytes) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    tail = b'GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=9600"\n'
    (ctx.root / "etc/default/grub").write_bytes(before + tail)
    plan = plan_serial_console(ctx, _finding())
    # the terminal lines are replaced in place, not appended
    assert [e.content for e in plan.edits] == [after + SERIAL_LINES]


def test_serial_console_crlf_and_no_final_newline(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "arch")
    before = b'GRUB_TIMEOUT=5\r\nGRUB_CMDLINE_LINUX="quiet"\r\nGRUB_TERMINAL_INPUT=console'
    (ctx.root / "etc/default/grub").write_bytes(before)
    plan = plan_serial_console(ctx, _finding())
    assert [e.content for e in plan.edits] == [
        b'GRUB_TIMEOUT=5\r\nGRUB_CMDLINE_LINUX="quiet console=tty0 console=ttyS0,115200n8"\r\n'
        b'GRUB_TERMINAL_INPUT=console\r\n' + SERIAL_LINES.replace(b"\n", b"\r\n")]


@pytest.mark.parametrize("content, why", [
    (b'GRUB_CMDLINE_LINUX="quiet\n  splash"\n', "spans lines"),
    (b'GRUB_CMDLINE_LINUX="quiet \\"x\\""\n', "spans lines"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xff" * 8, "binary"),
])
def test_serial_console_refuses_hostile_files(tmp_path: Path, content: bytes, why: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    (ctx.root / "etc/default/grub").write_bytes(content)
    plan = plan_serial_console(ctx, _finding())
    assert why in plan.blocked and not plan.edits and not plan.steps


def test_serial_console_without_default_grub(tmp_path: Path) -> None:
    debian = _fixture_tree(tmp_path / "debian", "debian12", default_grub=False)
    assert "no /etc/default/grub" in plan_serial_console(debian, _finding()).blocked.lower()
    azure = _fixture_tree(tmp_path / "azure", "azurelinux3", default_grub=False)
    plan = plan_serial_console(azure, _finding())
    assert not plan.blocked and not plan.edits
    assert _argv(plan) == SERIAL_STEPS["azurelinux3"]


def test_unknown_family_is_blocked(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "arch")
    ctx.target.os_release = {"ID": "plan9"}
    for plan in (plan_serial_console(ctx, _finding()), plan_kdump(ctx, _finding())):
        assert plan.blocked and not plan.steps and not plan.edits


# -- kdump ---------------------------------------------------------------------------------------

KDUMP_STEPS = {
    "debian12": [["apt-get", "install", "-y", "kdump-tools"],
                 ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]],
    "rocky9": [["dnf", "install", "-y", "kexec-tools"], ["systemctl", "enable", "kdump.service"],
               ["grubby", "--update-kernel=ALL", f"--args={RHEL_CRASH}"]],
    "azurelinux3": [["tdnf", "install", "-y", "kexec-tools"],
                    ["systemctl", "enable", "kdump.service"],
                    ["grubby", "--update-kernel=ALL", "--args=crashkernel=256M"]],
    "sles15": [["zypper", "--non-interactive", "install", "kdump"],
               ["systemctl", "enable", "kdump.service"],
               ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]],
}


@pytest.mark.parametrize("name", sorted(KDUMP_STEPS))
def test_kdump_when_not_installed(tmp_path: Path, name: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", name)
    plan = plan_kdump(ctx, _finding("sysctl"))
    assert plan.fix == "kdump-enable" and not plan.blocked
    assert _argv(plan) == KDUMP_STEPS[name]
    assert "network" in plan.risk
    if name == "sles15":
        assert [(e.path, e.content) for e in plan.edits] == [("/etc/default/grub", DEFAULT_GRUB[
            "sles15"].replace(b'GRUB_CMDLINE_LINUX=""', f'GRUB_CMDLINE_LINUX="{RHEL_CRASH}"'
                              .encode()))]
    else:  # Debian's package brings its own settings; RHEL's go through grubby
        assert plan.edits == []


def test_kdump_debian_installed_turns_it_on(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    (ctx.root / "usr/sbin").mkdir(parents=True)
    (ctx.root / "usr/sbin/kdump-config").write_bytes(b"#!/bin/sh\n")
    tools = (b"# kdump-tools configuration\n#     0 - kdump kernel will not be loaded\n"
             b"USE_KDUMP=0\n#KDUMP_COREDIR=\"/var/crash\"\n")
    (ctx.root / "etc/default/kdump-tools").write_bytes(tools)
    plan = plan_kdump(ctx, _finding())
    assert _argv(plan) == [["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]]
    assert "network" not in plan.risk
    grub = DEFAULT_GRUB["debian12"].replace(b'GRUB_CMDLINE_LINUX=""',
                                            b'GRUB_CMDLINE_LINUX="crashkernel=384M-:128M"')
    assert [(e.path, e.content) for e in plan.edits] == [
        ("/etc/default/kdump-tools", tools.replace(b"USE_KDUMP=0", b"USE_KDUMP=1")),
        ("/etc/default/grub", grub)]
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    assert (ctx.root / "etc/default/grub").read_bytes() == grub
    _set_entries(ctx, "ro crashkernel=384M-:128M")
    again = plan_kdump(ctx, _finding())
    assert not again.steps and not again.edits and "already configured" in again.why
    _undo(ctx, journal, tmp_path)
    assert (ctx.root / "etc/default/kdump-tools").read_bytes() == tools
    assert (ctx.root / "etc/default/grub").read_bytes() == DEFAULT_GRUB["debian12"]


def test_kdump_debian_dropin_and_missing_defaults(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12", args="ro quiet crashkernel=384M-:128M")
    (ctx.root / "usr/sbin").mkdir(parents=True)
    (ctx.root / "usr/sbin/kdump-config").write_bytes(b"#!/bin/sh\n")
    (ctx.root / "etc/default/grub.d").mkdir()
    (ctx.root / "etc/default/grub.d/kdump-tools.cfg").write_text(
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n')
    plan = plan_kdump(ctx, _finding())
    # the drop-in already reserves memory: only the missing defaults file is written
    assert [(e.path, e.content) for e in plan.edits] == [
        ("/etc/default/kdump-tools", b"USE_KDUMP=1\n")]
    journal = Journal.create(tmp_path / "journal")
    _apply(ctx, plan, journal)
    _undo(ctx, journal, tmp_path)
    assert not (ctx.root / "etc/default/kdump-tools").exists()


@pytest.mark.parametrize("name", ["rocky9", "azurelinux3"])
def test_kdump_rhel_family_idempotent(tmp_path: Path, name: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", name)
    (ctx.root / "usr/bin").mkdir(parents=True)
    (ctx.root / "usr/bin/kdumpctl").write_bytes(b"#!/bin/bash\n")
    plan = plan_kdump(ctx, _finding())
    assert _argv(plan) == KDUMP_STEPS[name][1:] and "network" not in plan.risk
    wants = ctx.root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "kdump.service").symlink_to("/usr/lib/systemd/system/kdump.service")
    assert _argv(plan_kdump(ctx, _finding())) == KDUMP_STEPS[name][2:]
    _set_entries(ctx, "ro crashkernel=256M")
    again = plan_kdump(ctx, _finding())
    assert not again.steps and not again.edits and "already configured" in again.why


def test_kdump_rhel8_kernelopts_count(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "rocky9")
    (ctx.root / "boot/grub2/grub.cfg").write_text("insmod blscfg\nblscfg\n")
    (ctx.root / "boot/loader/entries").mkdir(parents=True)
    (ctx.root / "boot/loader/entries/a.conf").write_text("options $kernelopts\n")
    (ctx.root / "boot/grub2/grubenv").write_text("kernelopts=root=/dev/sda2 crashkernel=auto\n")
    assert ["grubby", "--update-kernel=ALL", f"--args={RHEL_CRASH}"] not in _argv(
        plan_kdump(ctx, _finding()))


def test_kdump_arch_is_blocked(tmp_path: Path) -> None:
    plan = plan_kdump(_fixture_tree(tmp_path / "root", "arch"), _finding())
    assert "no kdump service" in plan.blocked and not plan.steps and not plan.edits


def test_kdump_refuses_a_damaged_defaults_file(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    (ctx.root / "usr/sbin").mkdir(parents=True)
    (ctx.root / "usr/sbin/kdump-config").write_bytes(b"#!/bin/sh\n")
    (ctx.root / "etc/default/kdump-tools").write_bytes(b"USE_KDUMP=0\n\x00\x00\xff")
    plan = plan_kdump(ctx, _finding())
    assert "binary" in plan.blocked and not plan.steps and not plan.edits and not plan.diff


# -- verification: each prevention fix is read back, never "verified" by a constant --------------

@pytest.mark.parametrize("name", ["debian12", "rocky9"])
def test_serial_console_is_verified_from_the_default_entry_and_grub_terminal(
        tmp_path: Path, name: str) -> None:
    ctx = _fixture_tree(tmp_path / "root", name)
    assert verify_serial_console(ctx).finding == "no-console"
    _set_entries(ctx, f"ro {CONSOLE}")  # the kernel's console, but GRUB's menu still on screen
    assert verify_serial_console(ctx).finding == "grub-terminal"
    config = ctx.root / ctx.target.bootloader_config.lstrip("/")
    if name == "debian12":  # grub-mkconfig writes the terminal into grub.cfg
        config.write_text("serial --speed=115200 --unit=0\nterminal_input console serial\n"
                          "terminal_output console serial\n" + config.read_text())
    else:  # grubby leaves grub.cfg alone: the setting waits in /etc/default/grub
        _apply(ctx, plan_serial_console(ctx, _finding()), Journal.create(tmp_path / "j"))
    found = verify_serial_console(ctx)
    assert found.ok and "console=ttyS0,115200n8" in found.summary, found.summary
    # Another entry having the console is not enough: the default one must.
    config.write_text(config.read_text().replace(
        "menuentry 'x'", "set default=1\nmenuentry 'x'") + "menuentry 'y' {\n  linux "
        f"/boot/{ctx.target.kernels[0].image} root=UUID={ROOT_UUID} ro\n}}\n")
    assert verify_serial_console(ctx).finding == "no-console"


def test_kdump_is_verified_from_the_entry_the_package_and_the_service(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path / "root", "debian12")
    assert verify_kdump(ctx).finding == "no-crashkernel"
    _set_entries(ctx, "ro crashkernel=384M-:128M")
    assert verify_kdump(ctx).finding == "not-installed"
    (ctx.root / "usr/sbin").mkdir(parents=True)
    (ctx.root / "usr/sbin/kdump-config").write_bytes(b"#!/bin/sh\n")
    assert verify_kdump(ctx).finding == "not-enabled"
    wants = ctx.root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "kdump-tools.service").symlink_to("/lib/systemd/system/kdump-tools.service")
    (ctx.root / "etc/default/kdump-tools").write_bytes(b"USE_KDUMP=0\n")
    assert "USE_KDUMP=0" in verify_kdump(ctx).summary and not verify_kdump(ctx).ok
    (ctx.root / "etc/default/kdump-tools").write_bytes(b"USE_KDUMP=1\n")
    found = verify_kdump(ctx)
    assert found.ok and "crashkernel=384M-:128M" in found.summary, found.summary


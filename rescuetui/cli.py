"""The command line: every step of a rescue as a subcommand, for operators and automation alike."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rescuetui import __version__
from rescuetui.core.errors import RescueError
from rescuetui.core.text import TerminalGuard, printable

# Exit statuses (stable: automation depends on them). `run` exits with the command's own status.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 4  # the work was done but something was left (a mount, a skipped undo)
EXIT_INTERRUPTED = 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (`command`) only that command's part: building every
    command's parser costs more than parsing, and `rescuetui run` is measured in milliseconds."""
    parser = argparse.ArgumentParser(
        prog="rescuetui",
        description="Find a Linux system that does not boot, mount it safely and repair it.",
    )
    parser.add_argument("--version", action="version", version=f"rescuetui {__version__}")
    # Without a command: the guided TUI.
    parser.add_argument("--disk", help="(TUI) the broken system's disk or image; default: every "
                        "attached disk but the rescue system's own")
    parser.add_argument("--log", action="append", default=[], type=Path, metavar="FILE",
                        help="(TUI) console text of the failed boot; repeat for several")
    parser.add_argument("--serial", action="store_true", help="(TUI) the serial console "
                        "profile: 16 colours, no mouse, VGA font characters, low refresh rate")
    parser.add_argument("--practice", nargs="?", const="initramfs-deleted", metavar="SCENARIO",
                        help="(TUI) build a practice disk with a real fault and repair it with "
                        "hints (default scenario: initramfs-deleted)")
    parser.add_argument("--journal", type=Path, help="(TUI) where session journals go")
    parser.add_argument("--key-file", type=Path, help="(TUI) key file that unlocks LUKS "
                        "devices; without one the TUI asks for the passphrase")
    parser.add_argument("--assemble-raid", action="store_true",
                        help="(TUI) assemble md RAID arrays found on the disk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def wanted(name: str) -> bool:
        return command is None or command == name

    def volume_options(p: argparse.ArgumentParser) -> None:
        """How every command that opens a disk opens what is below its filesystems."""
        p.add_argument("--key-file", type=Path, help="key file that unlocks LUKS devices")
        p.add_argument("--passphrase-stdin", action="store_true",
                       help="read the LUKS passphrase from standard input (its first line)")
        p.add_argument("--assemble-raid", action="store_true",
                       help="assemble md RAID arrays found on the disk")

    def target_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--disk", help="block device or raw disk image (also a fixed VHD) of the "
                       "broken system; default: every attached disk but the rescue system's own")
        p.add_argument("--root", help="the root filesystem's device, when the disk holds several "
                       "systems")
        volume_options(p)
        p.add_argument("--journal", type=Path, help="where session journals go (default "
                       "/var/log/rescuetui)")

    if wanted("scan"):
        scan = sub.add_parser("scan", help="list disks, installed systems and their fstab trees")
        scan.add_argument("--disk", help="only this block device or disk image")
        scan.add_argument("--json", action="store_true", help="machine-readable output")
        volume_options(scan)

    if wanted("run"):
        run = sub.add_parser("run", help="mount the system and run one command in its chroot")
        target_options(run)
        run.add_argument("--rw", action="store_true", help="mount read-write and record what the "
                         "command changes")
        run.add_argument("--dry-run", action="store_true", help="show the command, run nothing")
        run.add_argument("--timeout", type=float, help="stop the command after this many seconds")
        run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    if wanted("shell"):
        shell = sub.add_parser("shell", help="an interactive shell in the system's chroot")
        target_options(shell)
        shell.add_argument("--rw", action="store_true", help="mount read-write")

    if wanted("diagnose"):
        diagnose = sub.add_parser("diagnose", help="read the panic text and the system's own logs: "
                                  "the failure class, the facts, the evidence and the way to a fix")
        diagnose.add_argument("--log", action="append", default=[], metavar="FILE",
                              help="console text (serial log, pasted panic); - for standard input; "
                              "repeat for several")
        diagnose.add_argument("--disk", help="also mount this disk's system read-only and read its "
                              "own logs")
        diagnose.add_argument("--root", help="the root filesystem's device, when the disk holds "
                              "several systems")
        diagnose.add_argument("--json", action="store_true")
        volume_options(diagnose)

    if wanted("repair"):
        repair = sub.add_parser("repair", help="diagnose, check, fix, verify: the whole repair, each "
                                "fix shown and confirmed first")
        repair.add_argument("--disk", required=True, help="block device or disk image of the broken "
                            "system")
        repair.add_argument("--root", help="the root filesystem's device, when the disk holds "
                            "several systems")
        repair.add_argument("--log", action="append", default=[], type=Path, metavar="FILE",
                            help="console text of the failed boot (serial log); repeat for several")
        repair.add_argument("--yes", action="store_true", help="apply every fix without asking")
        repair.add_argument("--dry-run", action="store_true", help="plan and show, change nothing")
        repair.add_argument("--fix", action="append", metavar="ID", help="only these fixes (repeat)")
        repair.add_argument("--module", help="the module to blacklist (--fix module-blacklist), "
                            "when the panic does not name it")
        repair.add_argument("--journal", type=Path, help="where the session journal goes")
        repair.add_argument("--json", action="store_true")
        volume_options(repair)

    if wanted("cleanup"):
        cleanup = sub.add_parser("cleanup", help="unmount and detach what a killed run left behind")
        cleanup.add_argument("--json", action="store_true")

    if wanted("undo"):
        undo = sub.add_parser("undo", help="restore the files a session changed")
        undo.add_argument("--session", type=Path, help="session journal directory (default: the "
                          "latest under /var/log/rescuetui that changed something)")
        which = undo.add_mutually_exclusive_group()
        which.add_argument("--last", action="store_true", help="only the session's latest change")
        which.add_argument("change", nargs="?", type=int, help="only the change with this number")
        undo.add_argument("--disk", help="the disk or image, when it is not where the session found it")
        undo.add_argument("--force", action="store_true", help="restore files changed since")
        undo.add_argument("--journal", type=Path, help="where the undo run's own journal goes")
        undo.add_argument("--json", action="store_true")
        volume_options(undo)

    if wanted("lab"):
        lab = sub.add_parser("lab", help="practice systems: really broken disks, booted under qemu")
        lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
        image = lab_sub.add_parser("image", help="the unbroken practice system: Debian 12, /boot and "
                                   "/ on separate partitions, GRUB, serial console")
        image.add_argument("-o", "--output", type=Path, required=True)
        lab_sub.add_parser("list", help="the practice scenarios")
        build = lab_sub.add_parser("build", help="build a scenario's broken disk image")
        build.add_argument("name")
        build.add_argument("-o", "--output", type=Path, required=True)
        build.add_argument("--journal", type=Path, help="where the build's journal goes")
        boot = lab_sub.add_parser("boot", help="boot a disk image under qemu (on a throwaway "
                                  "overlay) and say how the boot ended")
        boot.add_argument("image", type=Path)
        boot.add_argument("--log", type=Path, help="write the serial console log here")
        boot.add_argument("--timeout", type=float, default=300.0)
        boot.add_argument("--firmware", choices=("bios", "uefi"), default="bios",
                          help="SeaBIOS (default) or OVMF with a fresh NVRAM (UEFI disks)")
        boot.add_argument("--json", action="store_true")
        verify = lab_sub.add_parser("verify", help="build a scenario, boot it, repair it, boot again")
        verify.add_argument("name", nargs="?", help="one scenario (default: all)")
        verify.add_argument("--workdir", type=Path, help="keep images and logs here")
        verify.add_argument("--json", action="store_true")
    return parser


# Top-level options that take a value: what follows them is not the command.
_VALUE_OPTIONS = frozenset({"--disk", "--log", "--journal", "--key-file"})


def _command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` names, or None (the TUI, --help, --version, a typo: the whole parser
    is built for those, so their messages list every command)."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_named(argv))
    args = parser.parse_args(argv)
    if args.command is None or (args.command == "lab" and args.lab_command is None):
        return run_tui(args)
    _exit_on_termination()
    # Nothing a disk or a command says reaches the terminal raw (--json output is JSON: its
    # strings are escaped already, so the guard changes nothing there).
    sys.stdout = TerminalGuard(sys.stdout)  # type: ignore[assignment]
    sys.stderr = TerminalGuard(sys.stderr)  # type: ignore[assignment]
    try:
        return int(COMMANDS[args.command](args))
    except RescueError as exc:
        print(f"rescuetui: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        left = _left_behind_by_this_run()
        if left:
            print(f"rescuetui: interrupted; still mounted or attached: {left}. Run "
                  "`rescuetui cleanup` to take it down.", file=sys.stderr)
        else:
            print("rescuetui: interrupted; everything mounted was taken down.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a second error at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _exit_on_termination() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so every mount is taken down on the way out."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


def _left_behind_by_this_run() -> str:
    """What this process's sessions still have mounted or attached (their state files say it,
    and teardown removes each entry as it takes it down), in words; "" when nothing is left."""
    import os

    from rescuetui.core.mountinfo import mounts_below
    from rescuetui.core.state import SessionState, all_sessions

    mounts = loops = 0
    for directory in all_sessions():
        try:
            state = SessionState.load(directory)
        except (OSError, ValueError, KeyError):
            continue
        if state.pid == os.getpid():
            mounts += len(mounts_below(directory))
            loops += len(state.loops)
    if not mounts and not loops:
        return ""
    return f"{mounts} mounts and {loops} loop devices"


def _warn(message: str) -> None:
    print(f"rescuetui: {message}", file=sys.stderr)


def _unlock(args: argparse.Namespace) -> dict[str, Any]:
    """What opens the disk's encrypted and RAID devices, as RescueSession.unlock_with takes it:
    the passphrase is read once, from standard input's first line, and kept in memory only."""
    passphrase = None
    if getattr(args, "passphrase_stdin", False):
        passphrase = sys.stdin.buffer.readline().rstrip(b"\n")
        if not passphrase:
            raise RescueError("--passphrase-stdin: standard input gave no passphrase.")
    return {"key_file": getattr(args, "key_file", None), "passphrase": passphrase,
            "assemble_raid": bool(getattr(args, "assemble_raid", False))}


def _emit_json(data: Any) -> None:
    import json

    json.dump(data, sys.stdout, indent=2, ensure_ascii=True)
    sys.stdout.write("\n")


# -- scan ------------------------------------------------------------------------------------


def cmd_scan(args: argparse.Namespace) -> int:
    from rescuetui.core.session import RescueSession

    with _closing(RescueSession(record=False)) as session:
        session.unlock_with(**_unlock(args))
        candidates = session.find(args.disk)
        assert session.inventory is not None
        targets = [session.inspect(c) for c in candidates]
        if args.json:
            _emit_json({
                "devices": session.inventory.to_json(),
                "notes": session.notes,
                "targets": [dict(t.to_json(), mount_check=[
                    {"mountpoint": printable(o.entry.entry.mountpoint), "status": o.status,
                     "message": o.message} for o in tree]) for t, tree in targets],
            })
            return EXIT_OK
        _print_devices(session.inventory)
        for note in session.notes:
            print(f"note: {note}")
        print()
        if not targets:
            print("No installed Linux system found" + (
                " (restore the destroyed superblock above first)." if session.destroyed else "."))
        for target, tree in targets:
            _print_target(target, tree)
    return EXIT_OK


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 100 else f"{value:.1f}{unit}"
        value /= 1024
    return str(n)


def _print_devices(inventory: Any) -> None:
    """One line a device, 80 columns for the common names; flags on a line of their own."""
    print(f"{'DEVICE':<14} {'SIZE':>6} {'CONTENT':<11} {'LABEL':<9} UUID")
    for d in inventory.devices:
        name = d.path if d.devtype == "disk" else " " + d.path
        if d.fstype and d.identity.usage == "filesystem":
            content = d.fstype + (" ESP" if d.is_esp else "")
        elif d.devtype == "disk" and d.identity.partition_table:
            content = f"{d.identity.partition_table} table"
        else:
            content = d.role
        label = printable(d.identity.label or "")
        if len(label) > 9:
            label = label[:8] + "~"
        print(f"{name:<14} {_size(d.size):>6} {content:<11} {label:<9} "
              f"{printable(d.identity.uuid or '')}")
        flags = []
        if d.rescue_own:
            flags.append("the rescue system's own disk: never a target")
        elif d.identity.error:
            flags.append(d.identity.error)
        if d.mountpoints:
            flags.append("mounted on " + ", ".join(printable(m) for m in d.mountpoints))
        if flags:
            print(f"{'':<15}^ {'; '.join(flags)}")


def _print_target(target: Any, tree: list[Any]) -> None:
    distro = printable(target.os_release.get("PRETTY_NAME", "Linux"))
    print(f"Installed system on {target.device}: {distro}")
    print(f"  family {target.family or 'unknown'}, {target.arch or 'unknown architecture'}, "
          f"{target.boot_mode.upper()} boot" + (f" (ESP {target.esp})" if target.esp else ""))
    print(f"  boot loader config: {target.bootloader_config or 'not found'}")
    print(f"  initramfs builder: {target.initramfs_builder or 'none installed that can run'}")
    _print_boot_chain(target.boot_chain)
    if not target.kernels:
        print("  kernels: none found in /boot or /lib/modules")
    for k in target.kernels:
        print(f"  kernel {printable(k.version)}")
        image = f"{k.image} ({_size(k.image_size or 0)})" if k.image else "MISSING"
        initrd = (f"{k.initramfs} ({_size(k.initramfs_size)})" if k.initramfs_size is not None
                  else f"{k.initramfs} MISSING")
        print(f"    image     {image}")
        print(f"    initramfs {initrd}")
        print(f"    modules   {k.modules or 'MISSING'}")
    print("  fstab (line, mount point, device):")
    for r in target.fstab:
        print(f"    {r.entry.line_number:>2} {printable(r.entry.mountpoint):<10} "
              f"{printable(r.entry.spec)}")
        found = f"{r.device}, " if r.device else ""
        note = f" ({r.note})" if r.note else ""
        print(f"{'':<15}-> {found}{r.status}{note}")
    for p in target.fstab_problems:
        print(f"    problem: {p.message}")
    for o in tree:
        if o.problem:
            print(f"  mount check: {o.message}")
    for note in target.notes:
        print(f"  note: {note}")


def _print_boot_chain(chain: Any) -> None:
    """The boot chain below the kernel, a few lines: what the firmware runs, GRUB's parts."""
    if chain is None:
        return
    print(f"  firmware: {chain.firmware} ({'; '.join(chain.evidence) or 'no sign of either'})")
    bios = chain.bios
    if bios is not None:
        core = ""
        if bios.boot_code == "grub":
            core = (f", core image in the {bios.core_place}: "
                    + ("whole" if bios.core_ok else bios.core_problem))
        print(f"  MBR of {chain.disk}: {bios.boot_code} boot code{core}")
    for platform in chain.platforms:
        print(f"  GRUB {platform.directory}: {len(platform.modules)} modules"
              + ("" if "normal" in platform.modules else ", NO normal.mod"))
    esp = chain.esp
    if esp is not None:
        if not esp.readable:
            print(f"  ESP {esp.device}: unreadable ({printable(esp.error)})")
        else:
            loaders = ", ".join(f"{printable(p)} ({kind})" for p, kind in esp.loaders.items())
            print(f"  ESP {esp.device}: {loaders or 'no loader'}")
            for path, uuid in esp.stubs.items():
                if uuid:
                    print(f"    {printable(path)} finds /boot by UUID {printable(uuid)}")
    if chain.bls:
        print(f"  BLS entries: {', '.join(printable(e.file.rsplit('/', 1)[-1]) for e in chain.bls)}")
    if chain.grubenv:
        shown = ", ".join(f"{printable(k)}={printable(v)[:40]}" for k, v in chain.grubenv.items())
        print(f"  grubenv: {shown}")


# -- run and shell ---------------------------------------------------------------------------


@contextmanager
def _closing(session: Any) -> Iterator[Any]:
    """Tear the session down at the end, saying what could not be taken down or put back."""
    try:
        yield session
    finally:
        for problem in session.close():
            _warn(problem)


def _open_session(args: argparse.Namespace, *, dry_run: bool = False) -> Any:
    from rescuetui.core.session import RescueSession

    session = RescueSession(journal_base=args.journal, dry_run=dry_run)
    try:
        session.unlock_with(**_unlock(args))
        try:
            session.open_target(args.disk, args.root, boot_chain=False)
        finally:
            for note in session.notes:
                _warn(note)
        for outcome in session.tree:
            if outcome.problem:
                _warn(outcome.message)
        if args.rw:
            session.make_writable()
    except BaseException:
        session.close()
        raise
    return session


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise RescueError("Give the command to run after --, e.g. `rescuetui run --disk IMG -- "
                          "cat /etc/os-release`.")
    session = _open_session(args, dry_run=args.dry_run)
    with _closing(session):
        before = None
        if args.rw and not args.dry_run:
            from rescuetui.core.manifest import compare, snapshot

            before = snapshot(session.root)

        def show(line: str) -> None:
            # Byte for byte into a pipe or file (automation); on a terminal, escaped.
            if sys.stdout.isatty():
                print(line)
                return
            sys.stdout.buffer.write(line.encode("utf-8", "surrogateescape") + b"\n")
            sys.stdout.buffer.flush()

        result = session.runner.run_plain(argv, in_chroot=True, timeout=args.timeout,
                                          on_line=show)
        if before is not None:
            diff = compare(before, snapshot(session.root))
            session.journal.append("manifest", command=result.seq, **diff.to_json())
    if not result.ok and (result.timed_out or result.cancelled):
        _warn(result.describe_failure())
    return result.returncode if result.returncode is not None else EXIT_FAILURE


def cmd_shell(args: argparse.Namespace) -> int:
    session = _open_session(args)
    with _closing(session):
        name = printable(session.target.os_release.get("PRETTY_NAME", "the target"))
        print(f"rescuetui: shell in {name} "
              f"on {session.target.device} ({'read-write' if args.rw else 'read-only'}); "
              "leave with `exit`.", file=sys.stderr)
        result = session.runner.run_interactive(["/bin/sh", "-c",
                                                 'exec "${SHELL:-/bin/bash}" -i 2>/dev/null || '
                                                 "exec /bin/sh -i"])
    return result.returncode if result.returncode is not None else EXIT_FAILURE


# -- diagnose ---------------------------------------------------------------------------------


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rescuetui.diagnose.classifier import diagnose_file, diagnose_stream, primary
    from rescuetui.diagnose.facts import decode_exit_code
    from rescuetui.diagnose.tree import findings_from_evidence, walk

    if not args.log and not args.disk:
        raise RescueError("Give the console text with --log FILE (or --log - for standard input) "
                          "and/or the broken system's disk with --disk.")
    diagnoses = []
    for name in args.log:
        diagnoses.append(diagnose_stream(sys.stdin.buffer, "standard input") if name == "-"
                         else diagnose_file(Path(name)))
    notes: list[str] = []
    changes: list[str] = []
    if args.disk:
        from rescuetui.core.session import RescueSession
        from rescuetui.diagnose.target_logs import diagnose_target

        with _closing(RescueSession(record=False)) as session:
            session.unlock_with(**_unlock(args))
            session.open_target(args.disk, args.root, api=False)
            found, evidence = diagnose_target(session.root)
            diagnoses += found
            notes += evidence.notes
            changes = evidence.recent_changes
            notes += _root_device_notes(primary(diagnoses), session)
    chosen = primary(diagnoses)
    if chosen is None:
        raise RescueError(
            f"The system on {args.disk} keeps no logs rescuetui can read (no journal, kern.log, "
            "syslog or kdump output); give the console text with --log FILE."
        )
    exit_code = decode_exit_code(chosen.facts.exit_code) if chosen.facts.exit_code else None
    way = walk(chosen.class_id, findings_from_evidence(
        chosen.class_id, exit_code, [line.text for line in chosen.evidence]))
    if args.json:
        _emit_json(dict(chosen.to_json(), path=[n.to_json() for n in way],
                        sources=[{"source": printable(d.source), "class": d.class_id,
                                  "failed": d.failed, "kernel": d.facts.kernel}
                                 for d in diagnoses],
                        recent_changes=[printable(c) for c in changes], notes=notes))
        return EXIT_OK
    _print_diagnosis(chosen, way, diagnoses, changes, notes)
    return EXIT_OK


def _root_device_notes(diagnosis: Any, session: Any) -> list[str]:
    """Compare the root device the failed boot waited for with what the disk really has."""
    if diagnosis is None or session.inventory is None:
        return []
    wanted = diagnosis.facts.root_device or diagnosis.facts.command_line_root
    if not wanted or "=" not in wanted:
        return []
    tag, _, value = wanted.partition("=")
    found = [d.path for d in session.inventory.matching(tag.upper(), value) if not d.rescue_own]
    if found:
        return [f"The boot looked for {printable(wanted)}; it is on this system as {found[0]}."]
    return [f"The boot looked for {printable(wanted)}, and no attached device has it: "
            "root= or /etc/fstab names the wrong device."]


def _print_diagnosis(d: Any, path: list[Any], diagnoses: list[Any], changes: list[str],
                     notes: list[str]) -> None:
    from rescuetui.diagnose.facts import decode_exit_code, decode_taint

    print(f"{d.class_id}: {d.title}")
    where = f"boot {d.boot} of {d.boots} in {printable(d.source)}"
    kernel = f"; failing kernel {printable(d.facts.kernel)}" if d.facts.kernel else ""
    state = ("" if d.failed else "; this boot reached a login prompt" if d.reached_login
             else "; no failure in this text")
    print(f"  {where}{kernel}{state}")
    if d.facts.exit_code:
        code = decode_exit_code(d.facts.exit_code)
        print(f"  init's exit code {code['raw']}: {code['meaning']}")
    if d.facts.taint:
        print(f"  tainted {d.facts.taint}: " + "; ".join(decode_taint(d.facts.taint)))
    if d.facts.rip:
        module = f" [{d.facts.rip_module}]" if d.facts.rip_module else ""
        print(f"  faulting function {printable(d.facts.rip)}{module}")
    if d.facts.blamed_module:
        print(f"  module blamed: {printable(d.facts.describe_module(d.facts.blamed_module))}")
    if d.facts.modules_in_trace:
        print(f"  modules in the call trace: {', '.join(d.facts.modules_in_trace)}")
    root = d.facts.root_device or d.facts.command_line_root
    if root:
        print(f"  root device: {printable(root)}")
    lines = d.evidence or d.suspicious
    if lines:
        print("Evidence:" if d.evidence else "Most suspicious lines:")
        for line in lines[-12:]:
            print(f"  {line.number:>7}: {printable(line.text)[:200]}")
    import textwrap

    print(textwrap.fill(f"What it means: {d.meaning}", width=79, subsequent_indent="  "))
    print("Way to a fix:")
    for number, node in enumerate(path, start=1):
        fixes = f" (fixes: {', '.join(node.fixes)})" if node.fixes else ""
        print(f"  {number}. {node.title}{fixes}")
    if len(diagnoses) > 1:
        print("Sources read:")
        for other in diagnoses:
            state = "failed" if other.failed else "no failure"
            print(f"  {printable(other.source)}: {other.class_id}, {state}")
    if changes:
        print("Recent package changes:")
        for change in changes[-10:]:
            print(f"  {printable(change)[:200]}")
    for note in notes:
        print(f"Note: {note}")


# -- repair ---------------------------------------------------------------------------------


def cmd_repair(args: argparse.Namespace) -> int:
    from rescuetui.fixes import FIX_IDS
    from rescuetui.fixes.base import FixPlan
    from rescuetui.fixes.workflow import REFUSED, Repair

    for fix in args.fix or []:
        if fix not in FIX_IDS:
            raise RescueError(f"No fix named {fix!r}; the fixes are: {', '.join(FIX_IDS)}.")
    interactive = sys.stdin.isatty()
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print

    def confirm(plan: FixPlan) -> bool:
        if args.dry_run:
            return True  # nothing runs
        if not args.yes and not interactive:
            say("Not applied: no terminal to ask on; give --yes to apply fixes unattended.")
            return False
        if plan.second_confirmation:
            # --yes does not answer this one: the operator must type it.
            if not interactive:
                say(f"Not applied: {plan.second_confirmation} This needs a person to confirm.")
                return False
            answer = input(f"{plan.second_confirmation} Type YES to accept: ")
            if answer.strip() != "YES":
                return False
        if args.yes:
            return True
        return input(f"Apply {plan.fix}? [y/N] ").strip().lower() in ("y", "yes")

    repair = Repair(disk=args.disk, root=args.root, logs=args.log, confirm=confirm, say=say,
                    only=args.fix, dry_run=args.dry_run, journal_base=args.journal,
                    module=args.module, unlock=_unlock(args))
    report = repair.run()
    if args.json:
        _emit_json(report.to_json())
    else:
        print()
        print("Summary:")
        if report.diagnosis:
            print(f"  diagnosis: {report.diagnosis['class']} ({report.diagnosis['title']})")
        for note in report.notes:
            print(f"  note: {note}")
        for a in report.applied:
            state = ("would apply (dry run)" if a.get("would_apply") else "verified"
                     if a["verified"] else "FAILED" if not a["ok"] else "NOT verified")
            print(f"  {a['fix']}: {state}")
        for reason in report.refused:
            print(f"  refused: {reason}")
        for left in report.remaining:
            print(f"  still wrong: {left['check']}: {left['summary']}")
        if not (report.applied or report.refused or report.remaining):
            print("  nothing to repair: every check passed")
        print(f"  journal: {report.journal}")
        if report.rca:
            print(f"  root cause note: {report.rca}")
        if report.dry_run:
            print("  dry run: the checks ran for real; no fix ran and nothing was written")
        if report.status == REFUSED:
            print("  Nothing unsafe was done; see why each fix was refused above.")
    return report.status


# -- cleanup and undo ------------------------------------------------------------------------


def cmd_cleanup(args: argparse.Namespace) -> int:
    from rescuetui.core.cleanup import cleanup_sessions

    reports = cleanup_sessions()
    if args.json:
        _emit_json([r.__dict__ for r in reports])
    else:
        if not reports:
            print("Nothing to clean up: no run left mounts or loop devices behind.")
        for r in reports:
            if r.skipped_alive:
                print(f"{r.session}: still running; left alone.")
                continue
            if not (r.mounts or r.loops or r.processes_stopped or r.problems):
                print(f"{r.session}: a finished run's empty state; removed.")
                continue
            print(f"{r.session}: took down {r.mounts} mounts and {len(r.loops)} loop devices"
                  + (f", stopped {r.processes_stopped} processes" if r.processes_stopped else ""))
            for p in r.problems:
                print(f"  problem: {p}")
    return EXIT_INCOMPLETE if any(r.problems for r in reports) else EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    from rescuetui.core.journal import Journal
    from rescuetui.core.session import RescueSession
    from rescuetui.core.undo import undo_filesystem_regions, undo_session

    # The latest session that changed something: not a look or a dry run that came after.
    journal = (Journal.open(args.session) if args.session
               else Journal.open(Journal.latest(changed=True)))
    target = next((r for r in reversed(journal.records()) if r.get("kind") == "target"), None)
    if target is None:
        raise RescueError(f"The session {journal.directory} never mounted a target; nothing to undo.")
    disk, root = args.disk, None
    if disk is None:
        recorded = target.get("disk")
        # An image file is still the same disk; a device name may now belong to another disk.
        if recorded and Path(recorded).is_file():
            disk = recorded
        else:
            root = _device_with_uuid(target.get("uuid"))
    unlock = _unlock(args)
    with _closing(RescueSession(journal_base=args.journal)) as session:
        session.unlock_with(**unlock)
        session.open_target(disk, root, api=False)
        session.make_writable()
        which: str | int = "last" if args.last else args.change if args.change else "all"
        assert session.journal is not None
        assert session.target is not None
        report = undo_session(journal, session.root, session.journal, which=which,
                              force=args.force, disk=session.target.boot_chain.disk
                              if session.target.boot_chain else session.target.disk,
                              filesystem_regions=False)
        whole = session.target.disk
    if report.deferred:  # superblocks a fix restored: put back with nothing mounted
        with _closing(RescueSession(journal_base=args.journal)) as session:
            session.unlock_with(**unlock)
            disks = session.attach(disk or whole)
            assert session.journal is not None and disks
            report.merge(undo_filesystem_regions(journal, report.deferred, session.journal,
                                                 disks[0], force=args.force))
    if args.json:
        _emit_json(report.to_json())
    else:
        for line in report.restored:
            print(f"restored {line}")
        for line in report.skipped:
            print(f"skipped {line}")
        for line in report.not_undoable:
            print(f"by hand: {line}")
        if not (report.restored or report.skipped):
            print("Nothing to undo.")
    return EXIT_INCOMPLETE if report.skipped else EXIT_OK


def _device_with_uuid(uuid: str | None) -> str:
    from rescuetui.core.inventory import scan_inventory

    found = [d for d in scan_inventory().matching("UUID", uuid or "") if not d.rescue_own]
    if len(found) != 1:
        raise RescueError(
            f"The session's root filesystem (UUID {uuid}) is "
            f"{'not attached' if not found else 'on several devices'}; give the disk with --disk."
        )
    return found[0].path


# -- the guided TUI ----------------------------------------------------------------------------


def run_tui(args: argparse.Namespace) -> int:
    """Decide the terminal profile, then (only then) import Textual and run the app."""
    from rescuetui import terminal

    profile = terminal.detect(force_serial=getattr(args, "serial", False))
    terminal.apply(profile)
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print("rescuetui: the guided mode needs a terminal; for automation use "
              "`rescuetui repair` (see `rescuetui --help`).", file=sys.stderr)
        return EXIT_USAGE
    practice = getattr(args, "practice", None)
    disk = getattr(args, "disk", None)
    logs = list(getattr(args, "log", None) or [])
    if practice:
        from rescuetui.lab.scenarios import scenario
        from rescuetui.screens.practice import prepare_practice

        scenario(practice)  # an unknown name is an error before anything is built
        print(f"Building the practice disk {practice} and booting it once under qemu to record "
              "its console (a minute or two; the first time also debootstrap, about two "
              "minutes)...", file=sys.stderr)
        image, console = prepare_practice(practice)
        disk, logs = str(image), [console, *logs]
    from rescuetui.app import RescueApp

    app = RescueApp(profile=profile, disk=disk, logs=logs,
                    practice=practice, pick_practice=args.command == "lab",
                    journal_base=getattr(args, "journal", None), unlock=_unlock(args))
    status = app.run(mouse=not profile.serial)
    return int(status or 0)


# -- lab -------------------------------------------------------------------------------------


def cmd_lab(args: argparse.Namespace) -> int:
    handlers = {"image": _lab_image, "list": _lab_list, "build": _lab_build, "boot": _lab_boot,
                "verify": _lab_verify}
    if args.lab_command not in handlers:
        raise RescueError("Give a lab command: list, image, build, boot or verify "
                          "(`rescuetui lab --help`).")
    return handlers[args.lab_command](args)


def _lab_image(args: argparse.Namespace) -> int:
    from rescuetui.lab.practice import copy_image, practice_base

    print(f"Building {args.output} (the first build runs debootstrap: about two minutes)...",
          file=sys.stderr)
    copy_image(practice_base(), args.output)
    print(f"{args.output}: Debian 12, /boot on partition 1, / on partition 2, GRUB on the disk")
    return EXIT_OK


def _lab_list(args: argparse.Namespace) -> int:
    from rescuetui.lab.scenarios import SCENARIOS

    width = max(len(name) for name in SCENARIOS)
    for s in SCENARIOS.values():
        print(f"{s.name:<{width}} {s.title}")
    return EXIT_OK


def _lab_build(args: argparse.Namespace) -> int:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import scenario

    chosen = scenario(args.name)
    for done in build_scenario(chosen, args.output, journal_base=args.journal):
        print(f"{chosen.name}: {done}")
    print(f"{args.output}: {chosen.title}")
    return EXIT_OK


def _lab_boot(args: argparse.Namespace) -> int:
    from rescuetui.lab.boot import boot

    if not args.image.is_file():
        raise RescueError(f"{args.image} is not a disk image file.")
    result = boot(args.image, timeout=args.timeout, firmware=args.firmware)
    if args.log:
        args.log.write_text(result.log)
    if args.json:
        _emit_json(result.to_json())
    else:
        print(f"{result.outcome} after {result.seconds:.1f} s: {printable(result.evidence)}")
    return EXIT_OK if result.outcome == "login" else EXIT_INCOMPLETE


def _lab_verify(args: argparse.Namespace) -> int:
    import tempfile

    from rescuetui.lab.scenarios import SCENARIOS, scenario
    from rescuetui.lab.verify import verify

    chosen = [scenario(args.name)] if args.name else list(SCENARIOS.values())
    results = []
    with tempfile.TemporaryDirectory(prefix="rescuetui-verify-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for s in chosen:
            result = verify(s, workdir)
            results.append(result)
            if not args.json:
                before = result.before.outcome if result.before else "-"
                after = result.after.outcome if result.after else "-"
                print(f"{s.name}: boot before: {before} (expected {s.expected_outcome}); "
                      f"repair: {result.repair}; boot after: {after}", file=sys.stderr)
    if args.json:
        _emit_json([r.to_json() for r in results])
    else:
        width = max([len("SCENARIO")] + [len(r.scenario) for r in results])
        print(f"{'SCENARIO':<{width}} {'BOOT BEFORE':<16} {'REPAIR':<8} {'BOOT AFTER':<11} "
              "SECONDS  KERNEL AFTER")
        for r in results:
            before = r.before.outcome if r.before else "-"
            mark = "" if r.failure_as_expected else "!"
            after = r.after.outcome if r.after else "pending"
            kernel = (r.after.kernel if r.after else None) or "-"
            print(f"{r.scenario:<{width}} {before + mark:<16} {r.repair:<8} {after:<11} "
                  f"{r.seconds:7.1f}  {kernel}")
        print("'!' marks an unexpected first boot.")
    return EXIT_OK if all(r.failure_as_expected and r.repaired for r in results) else (
        EXIT_INCOMPLETE)


COMMANDS = {
    "scan": cmd_scan,
    "run": cmd_run,
    "shell": cmd_shell,
    "diagnose": cmd_diagnose,
    "repair": cmd_repair,
    "cleanup": cmd_cleanup,
    "undo": cmd_undo,
    "lab": cmd_lab,
}

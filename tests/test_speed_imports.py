"""Start-up time: each command imports what it uses when it uses it (issue 14).

Textual and Rich are the TUI's; asyncio (which loads OpenSSL through ssl) only where a command's
output is streamed through an event loop (CommandRunner.run, run_blocking): `rescuetui run`
reads its command's output without one (run_plain). pyudev is not used: the device list is read
from sysfs and the udev database. Each check runs in a fresh interpreter and reads its
sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rescuetui.cli import COMMANDS, _command_named, build_parser
from rescuetui.lab.disk import BuiltDisk

SERIAL = Path(__file__).parent / "data" / "serial"
HEAVY = ("textual", "rich", "asyncio", "pyudev", "ssl")


def _loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in sys.modules after running `code` in a new interpreter."""
    probe = (
        "import sys, json\n"
        f"{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert _loaded_after("import rescuetui.cli") == []


def test_the_run_command_path_loads_no_ui_and_no_loop_before_it_runs() -> None:
    """Everything `rescuetui run` imports before it attaches the disk: the parser, the session
    and the modules cmd_run pulls in."""
    code = (
        "from rescuetui.cli import build_parser\n"
        "import rescuetui.core.session, rescuetui.core.sandbox\n"
        "build_parser().parse_args(['run', '--disk', 'disk.img', '--', 'true'])"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize("module", ["rescuetui.core.runner", "rescuetui.core.inventory",
                                    "rescuetui.core.session", "rescuetui.core.target"])
def test_core_modules_load_no_event_loop(module: str) -> None:
    assert _loaded_after(f"import {module}") == []


def test_diagnose_of_a_log_loads_nothing_heavy() -> None:
    """`rescuetui diagnose --log FILE --json`, run whole: no TUI, no event loop, no device list."""
    log = SERIAL / "library-deleted.log"
    code = (
        "import contextlib, io\n"
        "from rescuetui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['diagnose', '--json', '--log', {str(log)!r}]) == 0"
    )
    assert _loaded_after(code) == []


def test_lab_list_loads_nothing_heavy() -> None:
    code = (
        "import contextlib, io\n"
        "from rescuetui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['lab', 'list']) == 0"
    )
    assert _loaded_after(code) == []


def test_a_command_that_runs_gets_its_loop() -> None:
    """The other side: asyncio is imported where a command runs (a dry run runs nothing on the
    system but goes through the same path)."""
    code = (
        "from rescuetui.core.runner import CommandRunner\n"
        "assert CommandRunner(dry_run=True).run_blocking(['true']).dry_run"
    )
    assert "asyncio" in _loaded_after(code)


def test_a_whole_run_on_a_real_disk_loads_no_event_loop(debian_image: BuiltDisk,
                                                        tmp_path: Path) -> None:
    """`rescuetui run --disk IMG -- true`, whole: attach, mount the tree, the command in its
    sandbox, teardown; none of it needs asyncio, OpenSSL or the TUI, nor the boot chain's
    reading (a command in the target needs none of it) or LVM's (no volume group there)."""
    code = (
        "import sys\n"
        "from rescuetui.cli import main\n"
        f"assert main(['run', '--disk', {str(debian_image.image)!r}, '--journal', "
        f"{str(tmp_path / 'journal')!r}, '--', 'true']) == 0\n"
        "unused = {'rescuetui.core.bootchain', 'rescuetui.core.lvm', 'rescuetui.core.diskbytes'}\n"
        "assert not unused & set(sys.modules), unused & set(sys.modules)"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize("argv", [
    ["run", "--disk", "d.img", "--rw", "--", "cat", "/etc/fstab"],
    ["--disk", "run", "scan", "--json"],  # a disk named like a command is the option's value
    ["--journal", "/tmp/j", "repair", "--disk", "d.img", "--yes", "--fix", "fsck"],
    ["--disk", "d.img", "--serial"],  # the TUI
    ["--practice", "module-panic"],
    ["undo", "--last"],
    ["lab", "verify", "initramfs-deleted"],
    ["diagnose", "--log", "-", "--json"],
])
def test_the_parser_built_for_one_command_reads_it_as_the_whole_parser_does(
        argv: list[str]) -> None:
    """Only the named command's parser is built (start-up time); what it reads is the same."""
    named = _command_named(argv)
    assert named is None or named in COMMANDS
    assert vars(build_parser(named).parse_args(argv)) == vars(build_parser().parse_args(argv))

"""Start-up time: each command imports what it uses when it uses it (issue 14).

Textual and Rich are the TUI's; asyncio (which loads OpenSSL through ssl) is needed only where a
command runs (CommandRunner.run), pyudev only where the block devices are listed
(scan_inventory). Each check runs in a fresh interpreter and reads its sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    and the modules cmd_run pulls in. asyncio comes with the first command, pyudev with the
    device list, so neither is imported here."""
    code = (
        "from rescuetui.cli import build_parser\n"
        "import rescuetui.core.session, rescuetui.core.sandbox\n"
        "build_parser().parse_args(['run', '--disk', 'disk.img', '--', 'true'])"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize("module", ["rescuetui.core.runner", "rescuetui.core.inventory",
                                    "rescuetui.core.session", "rescuetui.core.target"])
def test_core_modules_load_asyncio_and_pyudev_on_use(module: str) -> None:
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

"""The engine stays free of the UI: core, checks, fixes and diagnose import neither textual nor rich."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENGINE_PACKAGES = ["rescuetui.core", "rescuetui.checks", "rescuetui.fixes", "rescuetui.diagnose"]


def _all_modules(package: str) -> list[str]:
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("package", ENGINE_PACKAGES)
def test_engine_imports_no_ui(package: str) -> None:
    modules = _all_modules(package)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "leaks = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(leaks))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} pulls in UI modules: {out.stdout.strip()}"


def test_cli_help_imports_no_ui() -> None:
    """`rescuetui --help` and the CLI subcommands start without loading Textual (start-up time)."""
    code = (
        "import sys\nfrom rescuetui.cli import build_parser\nbuild_parser()\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""The target's apt cache on a real Debian 12 tree: the archive chosen for a package is the one
of its installed version by Debian version order (deb12u14 after deb12u3, an older or newer
copy never taken for it), and an archive that cannot be read is a check that could not look,
never "modes match". Debian version order is checked against the host's dpkg."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rescuetui.checks.base import TargetContext
from rescuetui.checks.packages import cached_deb_path
from rescuetui.checks.permissions import check_permissions
from rescuetui.core import debversion
from rescuetui.core.session import RescueSession
from rescuetui.lab.disk import BuiltDisk

ARCHIVES = "var/cache/apt/archives"
VERSION = st.from_regex(r"([1-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,6})?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(VERSION, VERSION)
def test_debian_version_order_is_dpkgs(a: str, b: str) -> None:
    ours = debversion.compare(a, b)
    for op, holds in (("lt", ours < 0), ("eq", ours == 0), ("gt", ours > 0)):
        done = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True,
                              check=False)
        assert (done.returncode == 0) == holds, (a, op, b)


@pytest.fixture
def writable(debian_image: BuiltDisk, journal_dir: Path) -> Iterator[TargetContext]:
    """The real Debian tree, mounted read-write."""
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image), api=False)
        session.make_writable()
        assert session.target is not None
        yield TargetContext(session.root, session.target, session.runner, "")


def test_the_installed_versions_archive_is_chosen(writable: TargetContext) -> None:
    ctx = writable
    cache = ctx.root / ARCHIVES
    installed = next(cache.glob("libc6_*.deb")).name
    assert installed == "libc6_2.36-9+deb12u14_amd64.deb"  # what the tree has
    for other in ("2.36-9+deb12u3", "2.36-9+deb12u9", "2.36-9+deb12u2~bpo"):
        shutil.copy(cache / installed, cache / f"libc6_{other}_amd64.deb")
    # By name, deb12u9 sorts last; by Debian order deb12u14 is newer, and it is installed.
    assert cached_deb_path(ctx, "libc6") == f"/{ARCHIVES}/{installed}"
    os.unlink(cache / installed)
    assert cached_deb_path(ctx, "libc6") is None  # the installed version is not cached


def test_an_unreadable_archive_is_not_modes_match(writable: TargetContext) -> None:
    ctx = writable
    deb = next((ctx.root / ARCHIVES).glob("coreutils_*.deb"))
    os.truncate(deb, deb.stat().st_size // 2)  # a download cut short
    finding = check_permissions(ctx)
    assert not finding.ok and finding.finding == "unchecked", finding.summary
    assert "coreutils_" in finding.summary and "cannot be read" in finding.summary

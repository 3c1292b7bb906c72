"""The decision tree names only checks and fixes that exist, and its way is the one the
findings choose: the console text settles what it can, the checks on the disk the rest."""

from __future__ import annotations

import importlib

from rescuetui.checks import BOOT_CHECKS
from rescuetui.diagnose.tree import CHECKS_ELSEWHERE, ENTRY, NODES, walk
from rescuetui.fixes import FIX_IDS


def test_every_check_and_fix_a_node_names_exists() -> None:
    for target in CHECKS_ELSEWHERE.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target
    known_checks = set(BOOT_CHECKS) | set(CHECKS_ELSEWHERE)
    for node in NODES.values():
        assert set(node.checks) <= known_checks, (node.id, set(node.checks) - known_checks)
        assert set(node.fixes) <= set(FIX_IDS), (node.id, set(node.fixes) - set(FIX_IDS))
        assert all(n in NODES for n in node.next.values()), node.id
    assert all(n in NODES for n in ENTRY.values())


def test_a_question_is_asked_only_where_its_answer_changes_the_way() -> None:
    for node in NODES.values():
        if node.question:
            assert {"yes", "no"} <= set(node.next), node.id
            assert node.next["yes"] != node.next["no"], node.id


def test_the_checks_overrule_the_likeliest_way() -> None:
    """Console text alone ("VFS: unable to mount root") gives the likeliest way (on through
    root= to the previous kernel); once the checks looked, a missing initramfs ends it at the
    rebuild, and nothing after it is shown or suggested."""
    assert [n.id for n in walk("vfs-root")][-1] == "previous-kernel"
    checks = {name: "ok" for name in BOOT_CHECKS} | {"initramfs": "missing"}
    assert [n.id for n in walk("vfs-root", {}, checks)][-1] == "fix-initramfs"


def test_a_missing_initramfs_goes_straight_to_its_rebuild() -> None:
    checks = {name: "ok" for name in BOOT_CHECKS} | {"initramfs": "missing", "kernels": "one"}
    assert [n.id for n in walk("vfs-root", {}, checks)] == ["initramfs-present", "fix-initramfs"]


def test_the_previous_kernel_is_offered_only_when_there_is_one() -> None:
    checks = {name: "ok" for name in BOOT_CHECKS}
    several = walk("vfs-root", {}, checks | {"kernels": "several"})
    assert [n.id for n in several][-1] == "previous-kernel"
    one = walk("vfs-root", {}, checks | {"kernels": "one"}, {"previous-kernel"})
    assert [n.id for n in one] == ["initramfs-present", "root-parameter", "previous-kernel",
                                   "fix-kernel"]
    assert all("previous-kernel" not in n.fixes for n in one)
    assert one[-1].fixes == ("kernel-reinstall",)


def test_a_full_boot_leads_to_removing_old_kernels() -> None:
    checks = {name: "ok" for name in BOOT_CHECKS} | {"initramfs": "truncated",
                                                      "boot-space": "full"}
    path = walk("vfs-root", {}, checks)
    assert [n.id for n in path] == ["initramfs-present", "boot-space", "free-boot-space",
                                    "fix-initramfs"]
    assert "remove-old-kernels" in path[2].fixes


def test_before_the_checks_a_repair_shows_only_what_the_console_settles() -> None:
    """In a repair the way stops where the checks are about to decide: the guided flow never
    shows root= and the previous kernel first and takes them back after."""
    assert [n.id for n in walk("vfs-root", checks_pending=True)] == ["initramfs-present"]
    settled = walk("init-killed", {"init-exit-code": "exit-127"}, checks_pending=True)
    assert [n.id for n in settled] == ["init-exit-code", "missing-files"]

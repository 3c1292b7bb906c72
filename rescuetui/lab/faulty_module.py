"""A practice third-party kernel module whose init dereferences a NULL pointer: built out of
tree against a practice kernel's own headers, installed into a practice disk and loaded at boot
through modules-load.d, so that the boot oopses in it (and panics with oops=panic)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.lab.debian import CACHE, debian_tree
from rescuetui.lab.practice import add_kernel_parameter

NAME = "acme_monitor"  # a vendor's monitoring agent, as cloud images sometimes carry
LOAD_CONF = f"/etc/modules-load.d/{NAME}.conf"
# Where DKMS and vendor packages put modules that are not the kernel's own.
INSTALL_DIR = "updates"
SOURCE = r"""// SPDX-License-Identifier: GPL-2.0
/* Practice module for rescuetui: its init writes through a pointer its probe never set. */
#include <linux/init.h>
#include <linux/module.h>

struct acme_sensor { int status; };
static struct acme_sensor *acme_sensor;  /* set by a probe that never runs */

static int __init acme_monitor_init(void)
{
	pr_info("acme_monitor: starting the sensor\n");
	WRITE_ONCE(READ_ONCE(acme_sensor)->status, 1);
	return 0;
}

static void __exit acme_monitor_exit(void)
{
}

module_init(acme_monitor_init);
module_exit(acme_monitor_exit);
MODULE_DESCRIPTION("ACME monitoring agent (rescuetui practice module: faults in its init)");
MODULE_LICENSE("GPL");
"""
MAKEFILE = f"obj-m := {NAME}.o\n"
BACKPORTS = "deb http://deb.debian.org/debian bookworm-backports main\n"
BACKPORTS_LIST = "/etc/apt/sources.list.d/bookworm-backports.list"
BUILD_PACKAGES = ("gcc", "make")
OOPS_PANIC = "oops=panic"
# Bump when the recipe below changes, so cached builder trees and modules are rebuilt.
RECIPE = "1"


def builder_tree(kernel: str, cache: Path = CACHE) -> Path:
    """A copy of the cached Debian tree with gcc, make and `kernel`'s headers, cached under its
    own name beside the practice tree (which stays as it is)."""
    key = hashlib.sha256(f"{RECIPE} {kernel} {BUILD_PACKAGES}".encode()).hexdigest()[:8]
    tree = cache / f"module-build-{kernel}-{key}"
    if (tree / f"usr/src/linux-headers-{kernel}/Makefile").is_file():
        return tree
    partial = cache / f"{tree.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    subprocess.run(["cp", "-a", str(debian_tree(cache)), str(partial)], check=True)
    # A backports kernel's headers (6.12.x+deb12) are only there: apt finds the exact name in
    # whichever suite has it.
    (partial / BACKPORTS_LIST.lstrip("/")).write_text(BACKPORTS)
    _chroot(partial, ["apt-get", "update", "-q"])
    _chroot(partial, ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                      *BUILD_PACKAGES, f"linux-headers-{kernel}"])
    _chroot(partial, ["apt-get", "clean"])
    os.replace(partial, tree)
    return tree


def built_module(kernel: str, cache: Path = CACHE) -> Path:
    """The module built for `kernel` (its vermagic must match exactly), cached."""
    key = hashlib.sha256(f"{RECIPE} {SOURCE}".encode()).hexdigest()[:8]
    ko = cache / f"{NAME}-{kernel}-{key}.ko"
    if ko.is_file():
        return ko
    tree = builder_tree(kernel, cache)
    src = tree / "tmp" / f"{NAME}-src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / f"{NAME}.c").write_text(SOURCE)
    (src / "Makefile").write_text(MAKEFILE)
    _chroot(tree, ["make", "-C", f"/lib/modules/{kernel}/build", f"M=/tmp/{NAME}-src",
                   "modules"])
    partial = ko.with_suffix(".partial")
    shutil.copyfile(src / f"{NAME}.ko", partial)
    os.replace(partial, ko)
    shutil.rmtree(src)
    return ko


def install_module(session: RescueSession, kernel: str, *, load_at_boot: bool = True) -> str:
    """Put the module into the target's /lib/modules/KERNEL/updates/, run depmod, and (with
    `load_at_boot`) have systemd-modules-load load it at every boot. Returns what was done."""
    assert session.journal is not None
    ko = built_module(kernel)
    modules = resolve_in_root(session.root, f"/lib/modules/{kernel}")
    if not modules.is_dir():
        raise RescueError(f"The practice disk has no /lib/modules/{kernel} for {NAME}.")
    (modules / INSTALL_DIR).mkdir(exist_ok=True)
    session.journal.change_file(session.root, f"/lib/modules/{kernel}/{INSTALL_DIR}/{NAME}.ko",
                                ko.read_bytes(), reason=f"lab: the third-party module {NAME}",
                                mode=0o644)
    if load_at_boot:
        session.journal.change_file(session.root, LOAD_CONF,
                                    f"# ACME monitoring agent\n{NAME}\n".encode(),
                                    reason=f"lab: load {NAME} at boot", mode=0o644)
    result = session.runner.run_blocking(["depmod", "-a", kernel], in_chroot=True)
    if not result.ok:
        raise RescueError(f"depmod for {NAME} failed: {result.describe_failure()}")
    return (f"installed the out-of-tree module {NAME} for {kernel} into "
            f"/lib/modules/{kernel}/{INSTALL_DIR}/"
            + (f" and listed it in {LOAD_CONF}" if load_at_boot else ""))


def _chroot(tree: Path, argv: list[str]) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C", "HOME": "/root"}
    done = subprocess.run(["chroot", str(tree), *argv], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode:
        raise RescueError(f"Building the practice module: {' '.join(argv)} in {tree} failed "
                          f"(exit {done.returncode}): {(done.stderr or done.stdout)[-600:]}")


def list_in_initramfs(session: RescueSession, kernel: str) -> str:
    """Also list the module in /etc/initramfs-tools/modules (vendors do, to start early) and
    rebuild `kernel`'s initramfs: it then carries the module and loads it before root."""
    assert session.journal is not None
    path = "/etc/initramfs-tools/modules"
    text = resolve_in_root(session.root, path).read_text()
    session.journal.change_file(session.root, path,
                                (text.rstrip("\n") + f"\n{NAME}\n").lstrip("\n").encode(),
                                reason=f"lab: {NAME} in the initramfs")
    result = session.runner.run_blocking(["update-initramfs", "-u", "-k", kernel], in_chroot=True)
    if not result.ok:
        raise RescueError(f"update-initramfs for {NAME} failed: {result.describe_failure()}")
    return f"listed {NAME} in {path} and rebuilt the initramfs of {kernel}"


def panic_on_oops(session: RescueSession) -> str:
    """oops=panic on the kernel command line (GRUB_CMDLINE_LINUX and every entry of grub.cfg),
    as servers that would rather reboot than run on after a kernel fault have it."""
    return add_kernel_parameter(session, OOPS_PANIC, f"{OOPS_PANIC} on the command line")

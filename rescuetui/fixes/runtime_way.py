"""Which way out of a run-time panic a repair takes unasked: boot the previous kernel, or keep
the module the trace blames from loading, or neither; and the sentence that says why.

The previous kernel is the least change (only GRUB's default), so it is taken whenever it is a
way out: it is installed whole and, when the trace blames an out-of-tree module, does not have
that module. The module is blacklisted instead when nothing else helps: no other kernel, or the
other kernels carry the same module and would load it too. Only an out-of-tree module (not under
kernel/ in modules.dep) that boot loads by name is blacklisted unasked, never one the root
filesystem needs; anything else is the operator's call (--fix module-blacklist)."""

from __future__ import annotations

from dataclasses import dataclass

from rescuetui.checks.base import TargetContext
from rescuetui.core.text import printable
from rescuetui.diagnose.facts import Facts
from rescuetui.fixes.module_blacklist import (
    MODULE_NAME,
    boot_loaders,
    builtin_modules,
    canonical,
    in_tree,
    module_path,
    needed_for_root,
)
from rescuetui.fixes.previous_kernel import previous_kernel


@dataclass(frozen=True)
class RuntimeWay:
    fix: str | None  # "previous-kernel", "module-blacklist", or None: nothing unasked
    module: str  # the module the trace blames ("" when none)
    why: str  # one sentence for the operator and the journal


def choose_way(ctx: TargetContext, facts: Facts | None, module: str | None = None) -> RuntimeWay:
    failing = ctx.kernel
    previous = previous_kernel(ctx.target.kernels, failing)
    raw = module or (facts.blamed_module if facts else None) or ""
    if not MODULE_NAME.fullmatch(raw):
        if previous:
            return RuntimeWay("previous-kernel", "", (
                f"Way out: boot the previous kernel {previous.version}. The trace names no "
                f"module, so the fault is in kernel {failing} itself (or in code built into "
                "it); only GRUB's default changes."))
        return RuntimeWay(None, "", (
            f"No way out is taken unasked: the trace names no module, and no kernel other than "
            f"{failing} is installed with its image and initramfs. Install another kernel "
            "version in the chroot, or update this one."))
    name = canonical(raw)
    described = facts.describe_module(name) if facts else name
    flags = (facts.module_flags(name) if facts else None) or ""
    where = module_path(ctx, failing, name)
    loaders = boot_loaders(ctx, name)
    refusal = _not_blacklistable(ctx, name, where, flags, loaders)
    if refusal:
        if previous:
            return RuntimeWay("previous-kernel", name, (
                f"Way out: boot the previous kernel {previous.version}. The trace blames "
                f"{described}, but {refusal}, so it is not blacklisted unasked (--fix "
                "module-blacklist to do it anyway); only GRUB's default changes."))
        return RuntimeWay(None, name, (
            f"No way out is taken unasked: the trace blames {described}, but {refusal}; and no "
            f"kernel other than {failing} is installed with its image and initramfs."))
    origin = (f"/lib/modules/{failing}/{where}" if where else "not one of the kernel's own")
    blamed = (f"The panic is in {described}, an out-of-tree module ({origin}) that boot loads "
              f"({', '.join(loaders)})")
    other = module_path(ctx, previous.version, name) if previous else None
    if previous and other is None:
        return RuntimeWay("previous-kernel", name, (
            f"Way out: boot the previous kernel {previous.version}, not a blacklist. {blamed}; "
            f"kernel {previous.version} has no {name}, so it boots without it, and only GRUB's "
            f"default changes. {name} stays installed for kernel {failing} until a fixed version "
            f"comes (to stay on {failing} without it: --fix module-blacklist)."))
    reason = ("no kernel other than it is installed with its image and initramfs" if previous is None
              else f"kernel {previous.version} has {name} too (/lib/modules/{previous.version}/"
                   f"{other}) and would load it the same way")
    return RuntimeWay("module-blacklist", name, (
        f"Way out: keep {name} from loading (blacklist, out of the initramfs), not the previous "
        f"kernel. {blamed}; {reason}. Kernel {failing} stays the default."))


def _not_blacklistable(ctx: TargetContext, name: str, where: str | None, flags: str,
                       loaders: list[str]) -> str:
    """Why `name` is not blacklisted unasked ("" when it may be)."""
    needed = needed_for_root(ctx)
    if name in needed:
        return f"it is {needed[name]}"
    if name in builtin_modules(ctx, ctx.kernel):
        return f"it is built into kernel {ctx.kernel}"
    if where is not None and in_tree(where):
        return f"it is the kernel's own module (/lib/modules/{ctx.kernel}/{printable(where)})"
    if where is None and "O" not in flags:
        return (f"kernel {ctx.kernel} has no such module on disk and the trace does not mark it "
                "out-of-tree (O)")
    if not loaders:
        return ("nothing loads it by name at boot (modules-load.d, /etc/modules, "
                "/etc/initramfs-tools/modules, an enabled service's modprobe): something else "
                "pulls it in")
    return ""

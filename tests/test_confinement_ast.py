"""Product code reaches a target's files only through ConfinedRoot (core/confined.py): an AST
check over every module of rescuetui/, and a test of the checker on samples of the old code.

What counts as reaching a target path another way, as this codebase builds them:
- a call of `resolve_in_root`, `read_in_root`, `read_bounded` or `target_path` (core/rootpath.py:
  host paths of a target's files, opened later by name), or of `<anything>.path(...)` on a
  name or attribute called `ctx` (TargetContext.path, the same thing);
- `X / ...`, `X.joinpath(...)`, `os.path.join(X, ...)` or an f-string `f"{X}/..."` where X is
  a name or attribute whose last part names a target's root: `root`, `mounted`, `mountpoint`,
  `target_root` (`root`, `ctx.root`, `session.root`, `self.root` ...);
- a call of a file method on such a name (`root.glob(...)`, `root.iterdir()`, `root.exists()`...),
  or of `open` with it as the first argument, of an `os.*`/`shutil.*` function with it as any.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rescuetui"
FORBIDDEN_CALLS = frozenset({"resolve_in_root", "read_in_root", "read_bounded", "target_path"})
ROOT_NAMES = frozenset({"root", "mounted", "mountpoint", "target_root"})
PATH_METHODS = frozenset({
    "glob", "rglob", "iterdir", "exists", "is_dir", "is_file", "is_symlink", "stat", "lstat",
    "open", "read_text", "read_bytes", "write_text", "write_bytes", "chmod", "lchmod", "unlink",
    "rename", "replace", "mkdir", "rmdir", "touch", "symlink_to", "readlink", "resolve",
    "joinpath", "with_name"})
FILE_FUNCTIONS = frozenset({"os", "shutil"})

# module (relative to rescuetui/) -> why it may reach target paths by host path
ALLOWED_MODULES = {
    "core/confined.py": "the confinement itself",
    "core/rootpath.py": "resolve_in_root itself, kept for the practice lab",
    "lab/": "builds our own practice disks from our own tree (no untrusted disk involved)",
}
# (module, function) -> why
ALLOWED_FUNCTIONS = {
    ("core/mountpoint.py", "held_inside"): "the root's own host path, to check where the "
    "descriptor leads",
    ("core/target.py", "find_candidates"): "our own probe mount point directories, made before "
    "the mount and removed after it",
}


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_root(node: ast.expr) -> bool:
    return _last_name(node) in ROOT_NAMES


def violations(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for each way `source` reaches a target path other
    than through ConfinedRoot."""
    tree = ast.parse(source)
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        what = _judge(node)
        if what:
            found.append((getattr(node, "lineno", 0), function, what))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "")
    return found


def _judge(node: ast.AST) -> str | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_root(node.left):
        return f"{_last_name(node.left)} / ... (a host path into the target)"
    if isinstance(node, ast.JoinedStr) and len(node.values) > 1:
        first, second = node.values[0], node.values[1]
        if (isinstance(first, ast.FormattedValue) and _is_root(first.value)
                and isinstance(second, ast.Constant) and str(second.value).startswith("/")):
            return f'f"{{{_last_name(first.value)}}}/..." (a host path into the target)'
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = _last_name(func)
    if name in FORBIDDEN_CALLS:
        return f"{name}(...)"
    if isinstance(func, ast.Attribute):
        owner = func.value
        if name == "path" and _last_name(owner) == "ctx":
            return "ctx.path(...)"
        if _is_root(owner) and name in PATH_METHODS:
            return f"{_last_name(owner)}.{name}(...)"
        base = owner
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name) and base.id in FILE_FUNCTIONS and any(
                _is_root(a) for a in node.args):
            return f"{ast.unparse(func)}(... a target's root ...)"
    if name == "open" and isinstance(func, ast.Name) and node.args and _is_root(node.args[0]):
        return "open(root...)"
    return None


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _allowed(relative: str, function: str) -> bool:
    if any(relative == m or (m.endswith("/") and relative.startswith(m)) for m in ALLOWED_MODULES):
        return True
    return (relative, function) in ALLOWED_FUNCTIONS


def test_product_code_reaches_target_paths_only_through_confined_root() -> None:
    offences = []
    for module in _modules():
        relative = str(module.relative_to(PACKAGE))
        for line, function, what in violations(module.read_text()):
            if not _allowed(relative, function):
                offences.append(f"rescuetui/{relative}:{line} in {function or '<module>'}: {what}")
    assert not offences, "use ConfinedRoot (ctx.files) instead:\n" + "\n".join(offences)


def test_the_allow_list_names_what_exists() -> None:
    """An entry for a module or function that is gone would keep a hole open for a new one."""
    for module in ALLOWED_MODULES:
        assert (PACKAGE / module).exists(), module
    for module, function in ALLOWED_FUNCTIONS:
        tree = ast.parse((PACKAGE / module).read_text())
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert function in names, (module, function)


# Samples of the code before the change (main before issue 13), each a way out of the target.
OLD_CODE = {
    "journal copy": 'dest = root / "var/log/rescuetui" / self.directory.name\n',
    "journal write": "host_path = resolve_in_root(root, path, follow_last=False)\n",
    "check read": 'text = read_bounded(ctx.path("/etc/fstab"), 1 << 20)\n',
    "fix read": "before = ctx.path(config).read_bytes()\n",
    "probe": 'found = read_in_root(root, "/etc/os-release", 65536)\n',
    "subvolume": "root = mounted / sub if sub else mounted\n",
    "owner path": 'return "/" + str(host.relative_to(ctx.root)) if target_path(ctx.root, h) else 1\n',
    "manifest": 'start = root / top.lstrip("/")\n',
    "glob": 'logs = root.glob("var/log/*")\n',
    "join": 'p = os.path.join(root, "etc/fstab")\n',
    "fstring": 'p = f"{session.root}/etc/fstab"\n',
    "shutil": 'shutil.copytree(journal_dir, self.root)\n',
    "open": 'open(mountpoint, "rb")\n',
    "joinpath": 'root.joinpath("etc", "fstab").read_text()\n',
}


@pytest.mark.parametrize("sample", sorted(OLD_CODE))
def test_the_checker_catches_the_old_code(sample: str) -> None:
    assert violations(OLD_CODE[sample]), sample


def test_the_checker_passes_confined_code() -> None:
    source = (
        "def f(ctx, root):\n"
        "    files = ConfinedRoot(root)\n"
        '    data = ctx.files.read("/etc/fstab", 1 << 20)\n'
        '    files.write_atomic("/etc/fstab", data)\n'
        "    with held_inside(root, '/boot') as m:\n"
        "        stack.mount(dev, m.host, via=m.via)\n"
        "    read_release(root)\n")
    assert violations(source) == []


def test_the_checker_reports_where() -> None:
    assert violations("def plan(ctx):\n    x = 1\n    return ctx.path('/etc')\n") == [
        (3, "plan", "ctx.path(...)")]

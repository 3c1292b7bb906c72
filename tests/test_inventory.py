"""Block-device inventory on real loop-attached images: tables, filesystems, identity, hostile labels."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rescuetui.core.inventory import Inventory, scan_inventory
from rescuetui.core.mountstack import MountStack
from rescuetui.core.session import remove_session_dirs
from rescuetui.core.state import SessionState
from rescuetui.lab.disk import BuiltDisk, Part

pytestmark = pytest.mark.root


@pytest.fixture
def attach() -> Iterator[Callable[[Path], str]]:
    state = SessionState.create()
    stack = MountStack(state)
    yield lambda image: stack.attach_image(image)
    assert stack.teardown() == []
    (state.directory / "state.json").unlink()
    state.directory.rmdir()


def _by_path(inventory: Inventory, path: str):  # type: ignore[no-untyped-def]
    device = inventory.get(path)
    assert device is not None, f"{path} not in the inventory"
    return device


def test_gpt_disk_with_esp_boot_and_xfs_root(
    make_disk: Callable[..., BuiltDisk], attach: Callable[[Path], str]
) -> None:
    disk = make_disk([
        Part(40, "vfat", "/boot/efi", label="EFI", ptype="esp"),
        Part(60, "ext4", "/boot", label="boot"),
        Part(None, "xfs", "/", label="root"),
    ], table="gpt")
    loop = attach(disk.image)
    inv = scan_inventory()
    whole = _by_path(inv, loop)
    assert whole.devtype == "disk" and whole.transport == "loop"
    assert whole.identity.partition_table == "gpt" and whole.role == "partitioned"
    assert whole.backing_file == str(disk.image)
    esp, boot, root = (_by_path(inv, f"{loop}p{n}") for n in (1, 2, 3))
    assert esp.is_esp and esp.fstype == "vfat" and esp.role == "esp"
    assert esp.identity.uuid == disk.parts[0].fstab_uuid and esp.identity.label == "EFI"
    assert boot.fstype == "ext4" and boot.identity.uuid == disk.parts[1].uuid
    assert root.fstype == "xfs" and root.identity.label == "root"
    assert [d.identity.partition_number for d in (esp, boot, root)] == [1, 2, 3]
    assert root.identity.partition_type == "0fc63daf-8483-4772-8e79-3d69d8477de4"
    assert root.identity.partuuid and root.parent == loop
    assert esp.size == 40 * 1024 * 1024
    assert not any(d.rescue_own for d in (whole, esp, boot, root))


def test_msdos_disk(make_disk: Callable[..., BuiltDisk], attach: Callable[[Path], str]) -> None:
    disk = make_disk([Part(100, "ext4", "/boot"), Part(None, "ext4", "/")], table="msdos")
    loop = attach(disk.image)
    inv = scan_inventory()
    assert _by_path(inv, loop).identity.partition_table == "dos"
    part = _by_path(inv, f"{loop}p1")
    assert part.identity.partition_type == "0x83" and part.identity.partition_scheme == "dos"


def test_hostile_labels_are_read_verbatim(
    make_disk: Callable[..., BuiltDisk], attach: Callable[[Path], str]
) -> None:
    disk = make_disk([Part(60, "ext4", "/a"), Part(60, "ext4", "/b"),
                      Part(None, "xfs", "/c", label=";rm -rf /")])
    loop = attach(disk.image)
    labels = {1: b"$(reboot)", 2: b"a\xffb\nc", 3: b";rm -rf /"}
    subprocess.run(["e2label", f"{loop}p1", labels[1]], check=True)
    subprocess.run(["e2label", f"{loop}p2", labels[2]], check=True)
    inv = scan_inventory()
    for number, raw in labels.items():
        device = _by_path(inv, f"{loop}p{number}")
        assert device.identity.label is not None
        assert device.identity.label.encode("utf-8", "surrogateescape") == raw
    shown = _by_path(inv, f"{loop}p2").to_json()["label"]
    assert shown == "a\\xffb\\nc"


def test_ambiguous_probe_is_reported_not_raised(
    make_disk: Callable[..., BuiltDisk], attach: Callable[[Path], str]
) -> None:
    disk = make_disk([Part(60, "ext4", "/x"), Part(None, "ext4", "/")])
    loop = attach(disk.image)
    # An ISO 9660 signature on top of the ext4: two filesystems claim the partition.
    with open(f"{loop}p1", "r+b") as dev:
        dev.seek(32768)
        dev.write(b"\x01CD001\x01")
    inv = scan_inventory()
    device = _by_path(inv, f"{loop}p1")
    assert device.role == "ambiguous"
    assert device.identity.error and "wipefs" in device.identity.error
    assert _by_path(inv, f"{loop}p2").fstype == "ext4"


def test_rescue_systems_own_disk_is_marked() -> None:
    inv = scan_inventory()
    root_mount = next(m for m in __import__("rescuetui.core.mountinfo", fromlist=["x"])
                      .current_mounts() if m.mountpoint == "/")
    own = [d for d in inv.devices if d.major_minor == root_mount.major_minor]
    if not own:
        pytest.skip(f"/ is on {root_mount.source}, not a block device the kernel lists")
    assert own[0].rescue_own
    assert all(d.rescue_own for d in inv.devices if d.whole_disk == own[0].whole_disk)


def test_luks_is_shown_encrypted_and_unlock_says_what_it_needs(
    tmp_path: Path, attach: Callable[[Path], str]
) -> None:
    from rescuetui.core.errors import RescueError
    from rescuetui.core.volumes import device_mapper_available, unlock_luks

    image = tmp_path / "luks.img"
    image.write_bytes(b"")
    with open(image, "wb") as f:
        f.truncate(40 * 1024 * 1024)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf",
                    "pbkdf2", "--pbkdf-force-iterations", "1000", str(image), "--key-file", "-"],
                   input=b"secret", check=True)
    loop = attach(image)
    device = _by_path(scan_inventory(), loop)
    assert device.encrypted and device.role == "encrypted"
    state = SessionState.create()
    try:
        if device_mapper_available():
            mapper = unlock_luks(state, device, passphrase=b"secret")
            assert Path(mapper).exists()
        else:
            # This kernel has no device-mapper: the operator is told so, and what to do.
            with pytest.raises(RescueError, match="device-mapper"):
                unlock_luks(state, device, passphrase=b"secret")
        with pytest.raises(RescueError, match="passphrase or a key file"):
            unlock_luks(state, device)
    finally:
        assert MountStack(state).teardown() == []
        remove_session_dirs(state.directory)


def test_lvm_physical_volume_is_detected(tmp_path: Path, attach: Callable[[Path], str]) -> None:
    from rescuetui.core.errors import RescueError
    from rescuetui.core.lvm import open_volume_group, physical_volume
    from rescuetui.core.volumes import device_mapper_available

    image = tmp_path / "pv.img"
    with open(image, "wb") as f:
        f.truncate(40 * 1024 * 1024)
    loop = attach(image)
    env = {"LVM_SUPPRESS_FD_WARNINGS": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["pvcreate", "-q", loop], check=True, env=env)
    vg = f"rescuetuitest{loop.removeprefix('/dev/loop')}"
    subprocess.run(["vgcreate", "-q", vg, loop], check=True, env=env)
    try:
        device = _by_path(scan_inventory(), loop)
        assert device.lvm_member and device.role == "lvm-pv"
        pv = physical_volume(loop)
        assert pv is not None and pv.vg_name == vg and pv.device == loop
        state = SessionState.create()
        if device_mapper_available():
            assert open_volume_group(state, [pv], [], state.directory / "lvm") == (vg, None)
        else:
            with pytest.raises(RescueError, match="device-mapper"):
                open_volume_group(state, [pv], [], state.directory / "lvm")
        assert MountStack(state).teardown() == []
        remove_session_dirs(state.directory)
    finally:
        subprocess.run(["vgremove", "-qf", vg], check=False, env=env, capture_output=True)

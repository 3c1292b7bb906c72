"""fstab parsing: every spec form, entry kinds, syntax errors with line numbers; never crashes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rescuetui.core.fstab import DeviceSpec, parse_fstab, parse_spec
from rescuetui.core.fstabtree import ResolvedEntry, resolve_entry
from rescuetui.core.inventory import BlockDevice, Inventory

SAMPLE = """\
# comment
UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1
LABEL=boot /boot ext4 defaults 0 2
PARTUUID=5e8f0c1a-02 /boot/efi vfat umask=0077 0 1
/dev/sdb1 /data xfs defaults,nofail 0 0
/dev/disk/by-uuid/1234-ABCD /efi vfat defaults 0 0
/dev/disk/by-label/my\\x20data /mnt/my\\040data ext4 defaults 0 0
UUID=aaaa none swap sw 0 0
server:/export /srv/nfs nfs defaults,_netdev 0 0
//host/share /srv/smb cifs credentials=/root/c 0 0
tmpfs /tmp tmpfs defaults 0 0
/srv/data /var/data none bind 0 0
broken line
/dev/sdc1 relative ext4 defaults 0 0
/dev/sdd1 /x ext4 defaults zero 0
"""


def test_sample_entries_and_kinds() -> None:
    fstab = parse_fstab(SAMPLE)
    by_mp = {e.mountpoint: e for e in fstab.entries}
    assert by_mp["/"].device == DeviceSpec("UUID", "0a1b2c3d-0000-4000-8000-000000000001")
    assert by_mp["/"].line_number == 2
    assert by_mp["/boot"].device == DeviceSpec("LABEL", "boot")
    assert by_mp["/boot/efi"].device == DeviceSpec("PARTUUID", "5e8f0c1a-02")
    assert by_mp["/data"].device == DeviceSpec("path", "/dev/sdb1")
    assert by_mp["/data"].nofail
    assert by_mp["/efi"].device == DeviceSpec("UUID", "1234-ABCD")
    assert by_mp["/mnt/my data"].device == DeviceSpec("LABEL", "my data")
    assert by_mp["none"].kind == "swap"
    assert by_mp["/srv/nfs"].kind == "network"
    assert by_mp["/srv/smb"].kind == "network"
    assert by_mp["/tmp"].kind == "pseudo"
    assert by_mp["/var/data"].kind == "bind"
    assert by_mp["/"].kind == "filesystem"


def test_problems_name_their_line() -> None:
    problems = {p.line_number: p.message for p in parse_fstab(SAMPLE).problems}
    assert set(problems) == {13, 14, 15}
    assert "at least 4" in problems[13]
    assert "absolute" in problems[14]
    assert "numbers" in problems[15]


def test_mount_order_parents_first() -> None:
    fstab = parse_fstab(SAMPLE)
    order = [e.mountpoint for e in fstab.mounts()]
    assert order.index("/") < order.index("/boot") < order.index("/boot/efi")


def test_duplicate_mountpoint_is_a_problem() -> None:
    fstab = parse_fstab("LABEL=a /x ext4 defaults 0 0\nLABEL=b /x ext4 defaults 0 0\n")
    assert [p.line_number for p in fstab.problems] == [2]


def test_quoted_tag_values() -> None:
    assert parse_spec('UUID="abc"') == DeviceSpec("UUID", "abc")
    assert parse_spec("uuid=abc") == DeviceSpec("UUID", "abc")


@given(st.text(max_size=500))
def test_any_text_parses_without_crashing(text: str) -> None:
    fstab = parse_fstab(text)
    lines = text.splitlines()
    for entry in fstab.entries:
        assert 1 <= entry.line_number <= len(lines)
        assert entry.kind in ("filesystem", "swap", "network", "bind", "pseudo")
    for problem in fstab.problems:
        assert 1 <= problem.line_number <= len(lines)


@given(st.lists(st.sampled_from(["UUID=x", "LABEL=y", "/dev/sda1", "/", "/boot", "ext4",
                                 "defaults", "0", "1", "\t", " ", "\n", "#", "nofail,ro"]),
                max_size=60))
def test_fstab_like_text(tokens: list[str]) -> None:
    parse_fstab(" ".join(tokens))


def _dm(name: str, minor: int, *, own: bool = False) -> BlockDevice:
    return BlockDevice(path=f"/dev/dm-{minor}", name=f"dm-{minor}", devtype="disk",
                       transport="", size=1 << 30, major_minor=f"253:{minor}", dm_name=name,
                       rescue_own=own)


def _resolve(line: str, *devices: BlockDevice) -> ResolvedEntry:
    """Resolved for a root on /dev/vdb, whose partition 2 (a PV) holds every volume given that
    is not the rescue system's own."""
    (entry,) = parse_fstab(line + "\n").entries
    pv = _part("/dev/vdb", 2, "", holders=tuple(d.path for d in devices if not d.rescue_own))
    return resolve_entry(entry, Inventory([*devices, pv]), "/dev/vdb")


def test_logical_volume_paths_resolve_to_the_targets_volumes_never_the_rescue_systems() -> None:
    """A repair VM's own `rootvg-homelv` is mounted at its /home; the broken system's fstab
    names the same. Only the target's own volume (or its imported copy) may be used."""
    own, target = _dm("rootvg-homelv", 0, own=True), _dm("datavg-homelv", 1)
    home = _resolve("/dev/mapper/rootvg-homelv /home xfs defaults 0 0", own)
    assert home.status == "missing" and "no opened device-mapper device" in home.note
    assert _resolve("/dev/mapper/datavg-homelv /home xfs defaults 0 0", own, target).device == (
        "/dev/dm-1")
    # LVM's own path form, a dash in a name doubled in the mapper name.
    dashed = _dm("my--vg-home--lv", 2)
    assert _resolve("/dev/my-vg/home-lv /home ext4 defaults 0 2", dashed).device == "/dev/dm-2"


def test_a_copied_volume_group_resolves_to_its_temporary_name() -> None:
    own, copy = _dm("rootvg-varlv", 0, own=True), _dm("rescuetui_rootvg-varlv", 3)
    for spec in ("/dev/mapper/rootvg-varlv", "/dev/rootvg/varlv"):
        var = _resolve(f"{spec} /var xfs defaults 0 0", own, copy)
        assert (var.status, var.device) == ("resolved", "/dev/dm-3")
        assert "rescuetui_rootvg-varlv" in var.note
    swap = _resolve("/dev/mapper/rootvg-swaplv none swap sw 0 0", _dm("rescuetui_rootvg-swaplv", 4))
    assert swap.status == "skipped"


def test_other_long_device_paths_are_not_taken_for_volume_groups() -> None:
    for spec in ("/dev/disk/by-id/ata-X-part1", "/dev/md/root", "/dev/dm-3", "/dev/mapper/"):
        entry = _resolve(f"{spec} /x ext4 defaults 0 0", _dm("disk-by", 5))
        assert entry.status == "missing", spec


def _part(disk: str, number: int, uuid: str, *, holders: tuple[str, ...] = ()) -> BlockDevice:
    from rescuetui.core.inventory import Identity

    return BlockDevice(path=f"{disk}{number}", name=f"{disk[5:]}{number}", devtype="partition",
                       transport="", size=1 << 28, major_minor=f"252:{number}", parent=disk,
                       known_identity=Identity(fstype="ext4", uuid=uuid), holders=list(holders))


def test_boot_beside_a_logical_volume_root_is_the_roots_not_its_twins() -> None:
    """A repair VM made from the same RHEL-like image: both disks have /boot with one UUID and
    a PV of rootvg. The root is the target's logical volume (dm-3, on /dev/vdb2, which names
    dm-3 as its holder): its /boot is /dev/vdb1, not the twin on /dev/vda (seen in the live
    image, where /dev/vda is not the rescue system's own and the entry was ambiguous)."""
    boot = "1b2c3d4e-0000-4000-8000-000000000001"
    own_boot, own_pv = _part("/dev/vda", 1, boot), _part("/dev/vda", 2, "", holders=("/dev/dm-0",))
    boot_twin, pv = _part("/dev/vdb", 1, boot), _part("/dev/vdb", 2, "", holders=("/dev/dm-3",))
    inventory = Inventory([own_boot, own_pv, _dm("rootvg-rootlv", 0), boot_twin, pv,
                           _dm("rescuetui_rootvg-rootlv", 3)])
    (entry,) = parse_fstab(f"UUID={boot} /boot ext4 defaults 0 0\n").entries
    resolved = resolve_entry(entry, inventory, "/dev/dm-3")
    assert (resolved.status, resolved.device) == ("resolved", "/dev/vdb1"), resolved
    # Without the volume's holders nothing says which disk is the root's: neither /boot is
    # taken, both are another disk's.
    pv.holders = []
    resolved = resolve_entry(entry, inventory, "/dev/dm-3")
    assert resolved.status == "elsewhere" and "/dev/vdb1" in resolved.note, resolved


def test_an_fstab_never_reaches_another_disk_of_the_host() -> None:
    """A disk's fstab naming the UUID, LABEL or volume of a filesystem on another disk of the
    host (a disk a hostile image wants mounted, made writable and fsck'ed): never resolved to
    it, reported as on another disk, not as missing; the chosen disk's own still resolve."""
    from rescuetui.core.inventory import Identity

    own_data = _part("/dev/vdb", 3, "aaaaaaaa-0000-4000-8000-000000000003")
    other = _part("/dev/vdc", 1, "cccccccc-0000-4000-8000-000000000001")
    other.identity = Identity(fstype="ext4", uuid=other.identity.uuid, label="backups")
    other_pv = _part("/dev/vdc", 2, "", holders=("/dev/dm-7",))
    other_lv = _dm("datavg-datalv", 7)
    inventory = Inventory([own_data, other, other_pv, other_lv])
    for line in (f"UUID={other.identity.uuid} /srv ext4 defaults 0 2",
                 "LABEL=backups /srv ext4 defaults 0 2",
                 "/dev/mapper/datavg-datalv /srv ext4 defaults 0 2",
                 "/dev/datavg/datalv /srv ext4 defaults 0 2"):
        (entry,) = parse_fstab(line + "\n").entries
        resolved = resolve_entry(entry, inventory, "/dev/vdb")
        assert (resolved.status, resolved.device) == ("elsewhere", None), (line, resolved)
        assert "never used for this target" in resolved.note
    (entry,) = parse_fstab(f"UUID={own_data.identity.uuid} /data ext4 defaults 0 2\n").entries
    assert resolve_entry(entry, inventory, "/dev/vdb").device == "/dev/vdb3"

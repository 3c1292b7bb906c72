"""os-release, redhat-release and mountinfo parsing, on real samples and on junk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rescuetui.core.distros import family_for
from rescuetui.core.mountinfo import parse_mountinfo
from rescuetui.core.osrelease import parse_os_release, parse_redhat_release

UBUNTU = '''NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 22.04.4 LTS"
'''


def test_os_release_quotes_and_families() -> None:
    rel = parse_os_release(UBUNTU)
    assert rel["PRETTY_NAME"] == "Ubuntu 22.04.4 LTS"
    family = family_for(rel)
    assert family is not None and family.name == "debian"
    assert family.initramfs_name("5.15.0-1") == "initrd.img-5.15.0-1"


def test_families_by_id_and_id_like() -> None:
    cases = {
        'ID="rocky"\nID_LIKE="rhel centos fedora"': ("rhel", "initramfs-5.14.0.img"),
        'ID="sles"\nID_LIKE="suse"': ("suse", "initrd-5.14.0"),
        "ID=mariner": ("azurelinux", "initramfs-5.14.0.img"),
        "ID=azurelinux": ("azurelinux", "initramfs-5.14.0.img"),
        "ID=manjaro\nID_LIKE=arch": ("arch", "initramfs-5.14.0.img"),
        "ID=linuxmint\nID_LIKE=ubuntu": ("debian", "initrd.img-5.14.0"),
    }
    for text, (name, initrd) in cases.items():
        family = family_for(parse_os_release(text))
        assert family is not None, text
        assert (family.name, family.initramfs_name("5.14.0")) == (name, initrd)
    assert family_for(parse_os_release("ID=plan9")) is None


def test_release_chooses_the_package_tools() -> None:
    """VERSION_ID's major number picks the 7 generation's yum and one `kernel` package."""
    cases = {
        'ID="rhel"\nVERSION_ID="7.9"': ("yum", "kernel-3.10.0-1"),
        'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"': ("yum", "kernel-3.10.0-1"),
        'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="7.9"': ("yum", "kernel-3.10.0-1"),
        'ID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"': ("yum", "kernel-3.10.0-1"),
        'ID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"': ("dnf", "kernel-3.10.0-1"),
        'ID="rhel"\nVERSION_ID="8.10"': ("dnf", "kernel-core-3.10.0-1"),
        'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"': ("dnf", "kernel-core-3.10.0-1"),
        'ID="fedora"\nVERSION_ID=7': ("dnf", "kernel-core-3.10.0-1"),  # not a RHEL 7 release
        'ID="rocky"\nID_LIKE="rhel centos fedora"': ("dnf", "kernel-core-3.10.0-1"),
    }
    for text, (tool, kernel) in cases.items():
        family = family_for(parse_os_release(text))
        assert family is not None and family.name == "rhel", text
        assert (family.reinstall(["x"])[0][0], family.kernel_package("3.10.0-1")) == (tool, kernel), text


def test_os_release_is_parsed_never_evaluated() -> None:
    rel = parse_os_release('NAME="$(reboot)"\nID=`id`\nBAD LINE\nVERSION="unterminated\n')
    assert rel["NAME"] == "$(reboot)"
    assert rel["ID"] == "`id`"
    assert rel["VERSION"] == '"unterminated'.strip('"')


def test_redhat_release() -> None:
    rel = parse_redhat_release("CentOS Linux release 7.9.2009 (Core)\n")
    assert rel["ID"] == "centos" and rel["VERSION_ID"] == "7.9.2009"
    fam = family_for(rel)
    assert fam is not None and fam.name == "rhel"


def test_mountinfo_escapes() -> None:
    line = ("36 35 7:2 / /run/rescuetui/x/root/my\\040dir rw,relatime shared:1 - ext4 "
            "/dev/loop0p2 rw\n")
    (m,) = parse_mountinfo(line)
    assert m.mountpoint == "/run/rescuetui/x/root/my dir"
    assert m.fstype == "ext4" and m.source == "/dev/loop0p2" and m.major_minor == "7:2"


@given(st.text(max_size=300))
def test_os_release_never_crashes(text: str) -> None:
    parse_os_release(text)
    parse_redhat_release(text)
    parse_mountinfo(text)

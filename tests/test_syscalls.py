"""Kernel call errors name the call, the arguments and the errno (in a throw-away child)."""

import errno

import pytest

from sandbox.kernel import syscalls as sc
from sandbox.errors import KernelCallError
from sandbox.isolation.namespaces import in_child


def test_pivot_root_on_a_plain_directory_says_why(tmp_path):
    (tmp_path / "old").mkdir()

    def attempt():
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        sc.pivot_root(str(tmp_path), str(tmp_path / "old"))

    with pytest.raises(KernelCallError) as caught:
        in_child(attempt, sc.CLONE_NEWNS)
    err = caught.value
    # EINVAL ("not a mount point") or EBUSY ("on the current root filesystem"):
    # which one depends on where the test's temporary directory lives.
    assert err.call == "pivot_root" and err.errno in (errno.EINVAL, errno.EBUSY)
    assert str(err).startswith(f"pivot_root('{tmp_path}', '{tmp_path}/old'): {err.errno_name}: ")
    assert "mount point" in str(err) or "root filesystem" in str(err)


def test_mount_error_names_flags_and_type(tmp_path):
    def attempt():
        sc.mount("none", str(tmp_path / "missing"), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV)

    with pytest.raises(KernelCallError) as caught:
        in_child(attempt, sc.CLONE_NEWNS)
    message = str(caught.value)
    assert "mount('none'" in message and "MS_NOSUID|MS_NODEV" in message
    assert "ENOENT" in message


def test_flag_names_read_like_the_man_page():
    assert sc.mount_flag_names(sc.MS_BIND | sc.MS_REC) == "MS_BIND|MS_REC"
    assert sc._flag_names(sc.CLONE_NEWNS | sc.CLONE_NEWPID) == "CLONE_NEWNS|CLONE_NEWPID"


def test_hostname_changes_only_inside_the_uts_namespace():
    import socket
    outside = socket.gethostname()
    inside = in_child(lambda: (sc.sethostname("inside-uts"), socket.gethostname())[1],
                      sc.CLONE_NEWUTS)
    assert inside == "inside-uts" and socket.gethostname() == outside

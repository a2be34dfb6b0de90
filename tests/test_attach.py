"""Terminals you can come back to: run -it through the monitor, detach keys, attach, type-ahead.

Driven through real pseudo-terminals (pexpect forks with pty.fork), as a person would.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from conftest import sandbox, fails_with_one_sentence
from test_tty import spawn

from sandbox.terminal import EscapeProxy, parse_detach_keys
from sandbox.errors import UsageError


# --- pure: Docker's --detach-keys and its escape proxy ------------------------------------
@pytest.mark.parametrize("text, keys", [
    ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a,x", b"\x01x"), ("a,b,c", b"abc"),
    ("ctrl-@", b"\x00"), ("ctrl-_", b"\x1f"), ("ctrl-\\", b"\x1c"), ("CTRL-P,ctrl-Q", b"\x10\x11"),
])
def test_detach_keys_parse_as_docker(text, keys):
    assert parse_detach_keys(text) == keys


CLIENT_AFTER_THE_MONITOR_LEFT = r"""
import socket, struct, sys
from sandbox.engine.monitor import frame
from sandbox.terminal import attach
client, monitor = socket.socketpair()
monitor.sendall(frame(b"1", b"bye\n") + frame(b"x", struct.pack(">i", 4)))
monitor.close()        # the container exited, and its monitor with it
sys.exit(attach(client, tty=False, stdin=True, stdin_once=False, detach_keys=b""))
"""


def test_input_typed_as_the_container_exits_does_not_kill_the_client(tmp_path):
    """Keys that arrive after the monitor closed its end meet EPIPE: the client stops
    sending, reads the exit code the monitor sent first, and exits with it (not 141).
    (Input from a file: ready at once, so it is read before the monitor's frames.)"""
    import subprocess
    typed = tmp_path / "typed"
    typed.write_bytes(b"typed late\n")
    with open(typed, "rb") as stdin:
        done = subprocess.run([sys.executable, "-c", CLIENT_AFTER_THE_MONITOR_LEFT],
                              stdin=stdin, capture_output=True, timeout=20)
    assert (done.returncode, done.stdout) == (4, b"bye\n"), done.stderr


@pytest.mark.parametrize("text", ["ctrl-", "ctrl-1", "abc", "ctrl-pp", ""])
def test_bad_detach_keys_are_refused(text):
    with pytest.raises(UsageError, match="invalid detach keys"):
        parse_detach_keys(text)


def test_escape_proxy_holds_a_prefix_and_releases_it_if_the_sequence_breaks():
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ab\x10") == b"ab"      # ^P held back
    assert proxy.feed(b"c") == b"\x10c"        # not followed by ^Q: sent after all
    assert proxy.feed(b"x\x10\x11y") == b"x" and proxy.detached


# --- the refusal ------------------------------------------------------------------------
def test_it_without_a_terminal_is_refused_at_once():
    started = time.monotonic()
    r = sandbox("run", "-it", "busybox", "sh", input="echo x\n", timeout=10)
    assert r.returncode == 1
    fails_with_one_sentence(r, "the input device is not a TTY")
    assert time.monotonic() - started < 5  # and nothing created: no_container_left checks


# --- run -it through the monitor -----------------------------------------------------------
def test_typed_ahead_input_is_kept():
    """Typed before the prompt (before the container even exists): nothing is flushed."""
    child = spawn("run", "-it", "--rm", "busybox", "sh")
    child.send("echo typed$((40 + 2))\r")  # at once, while sandbox is still starting
    child.expect("typed42")
    child.send("exit 5\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5


def test_window_size_follows_the_callers_terminal():
    child = spawn("run", "-it", "--rm", "busybox", "sh")
    child.expect("# ")
    child.setwinsize(40, 120)  # SIGWINCH to sandbox, which tells the monitor: TIOCSWINSZ
    time.sleep(0.3)
    child.sendline("stty size")
    child.expect("40 120")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def _status(name):
    return sandbox("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def test_detach_and_attach_again(name):
    child = spawn("run", "-it", "--name", name, "busybox", "sh")
    child.expect("# ")
    child.sendline("export MARK=still-here")
    child.expect("# ")
    child.send("\x10\x11")  # Ctrl-P Ctrl-Q
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "read escape sequence" not in child.before  # run says nothing, as Docker's
    assert _status(name) == "running"

    again = spawn("attach", "--detach-keys", "ctrl-a,x", name)
    again.sendline("echo $MARK")  # the same shell, its variable kept
    again.expect("still-here")
    again.send("\x01x")
    again.expect("read escape sequence")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0 and _status(name) == "running"

    r = sandbox("exec", name, "sh", "-c", "echo exec-ok")
    assert r.stdout == "exec-ok\n"
    last = spawn("attach", name)
    last.sendline("exit 7")
    last.expect(pexpect.EOF)
    last.close()
    assert last.exitstatus == 7
    assert _status(name) == "exited"
    sandbox("rm", name, check=True)


def test_run_dit_keeps_the_terminal_and_exec_it_works(name):
    sandbox("run", "-dit", "--name", name, "busybox", "sh", check=True)
    time.sleep(0.3)
    assert _status(name) == "running"
    child = spawn("exec", "-it", name, "sh")
    child.expect("# ")
    child.sendline("tty")
    child.expect("/dev/pts/")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    sandbox("rm", "-f", name, check=True)


def test_start_ai_of_a_created_terminal_container(name):
    sandbox("create", "-it", "--name", name, "busybox", "sh", check=True)
    child = spawn("start", "-ai", name)
    child.expect("# ")
    child.sendline("exit 4")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    sandbox("start", name, check=True)  # a plain start keeps stdin and terminal open: it runs
    time.sleep(0.3)
    assert _status(name) == "running"
    sandbox("rm", "-f", name, check=True)


def test_attach_to_a_stopped_container_is_refused(name):
    sandbox("create", "--name", name, "busybox", "true", check=True)
    fails_with_one_sentence(sandbox("attach", name), "start it first")
    sandbox("rm", name, check=True)


def test_attach_without_tty_relays_streams(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            "sleep 0.5; echo out; echo err >&2; exit 3", check=True)
    r = sandbox("attach", name)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    sandbox("rm", name, check=True)


# --- kill -9: nothing is left behind ------------------------------------------------------
def _leftovers(cid: str) -> list[str]:
    found = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cid in line]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"**/{cid}")]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if cid.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(f"process {pid}")
        except OSError:
            pass
    return found


def _id(name):
    return sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()


def test_a_killed_client_leaves_the_container_running_and_rm_cleans_up(name):
    child = spawn("run", "-it", "--name", name, "busybox", "sh")
    child.expect("# ")
    os.kill(child.pid, signal.SIGKILL)
    child.close(force=True)
    time.sleep(0.3)
    assert _status(name) == "running"  # as with Docker: the client is not the container
    cid = _id(name)
    sandbox("rm", "-f", name, check=True)
    assert _leftovers(cid) == []


def test_a_killed_monitor_is_cleaned_up_by_rm_and_prune(name):
    sandbox("run", "-dit", "--name", name, "busybox", "sh", check=True)
    sandbox("run", "-d", "--name", name + "-2", "busybox", "sleep", "30", check=True)
    for n in (name, name + "-2"):
        cid = _id(n)
        state = json.loads(sandbox("inspect", n).stdout)[0]
        monitor = json.loads(Path(state["LogPath"]).parent.joinpath("state.json").read_text())
        os.kill(monitor["MonitorPid"], signal.SIGKILL)
    time.sleep(0.5)
    first = _id(name)
    sandbox("rm", "-f", name, check=True)
    assert _leftovers(first) == []
    second = _id(name + "-2")
    sandbox("kill", name + "-2")  # now it has exited, with nobody to record it
    r = sandbox("system", "prune", "-f")
    assert second in r.stdout
    assert _leftovers(second) == []


def test_input_the_container_does_not_read_yet_waits_in_the_monitor():
    """200 kB typed while the program sleeps: the monitor keeps it (the terminal holds 4 kB)
    and writes it as the program reads; nothing is lost, nobody blocks."""
    child = pexpect.spawn(sys.executable, ["-m", "sandbox", "run", "-it", "--rm", "busybox", "sh",
                                           "-c", "stty -echo; sleep 1; head -c 200000 | wc -c"],
                          timeout=20)
    child.delaybeforesend = None
    time.sleep(0.5)
    for _ in range(2000):
        child.send(b"x" * 99 + b"\n")
        try:
            child.read_nonblocking(65536, timeout=0)  # what the terminal echoed before -echo
        except pexpect.TIMEOUT:
            pass
    child.expect(rb"200000")
    child.expect(pexpect.EOF)


def test_a_hung_up_client_leaves_and_the_container_stays(name):
    child = spawn("run", "-it", "--name", name, "busybox", "sh")
    child.expect("# ")
    child.close(force=False)  # the terminal hangs up: SIGHUP, as when a window is closed
    time.sleep(0.5)
    assert _status(name) == "running"  # as with Docker, whose client dies of the SIGHUP
    sandbox("rm", "-f", name, check=True)

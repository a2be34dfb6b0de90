"""`run -it` and `exec -it`: a real pseudo-terminal, driven through a pty as a person would."""

import sys
import time

import pexpect

from conftest import sandbox


class Terminal(pexpect.spawn):
    """A pexpect terminal that answers busybox's "where is the cursor?" (ESC [6n) as xterm would."""

    def expect(self, pattern, **kw):
        while True:
            index = super().expect([r"\x1b\[6n", pattern], **kw)
            if index == 1:
                return 0
            self.send("\x1b[1;1R")


def spawn(*args) -> Terminal:
    return Terminal(sys.executable, ["-m", "sandbox", *args], encoding="utf-8", timeout=20,
                    dimensions=(30, 100))


def test_interactive_shell():
    child = spawn("run", "-it", "--rm", "busybox", "sh")
    child.expect("# ")
    child.sendline("echo $((6 * 7)); tty")
    child.expect("42")
    child.expect("/dev/pts/0")
    child.sendline("stty size")
    child.expect("30 100")  # the window size reached the container's terminal
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_ctrl_c_interrupts_the_program_not_the_shell():
    child = spawn("run", "-it", "--rm", "busybox", "sh")
    child.expect("# ")
    child.sendline("sleep 100")
    child.expect("sleep 100")
    time.sleep(0.5)  # as a person would: the shell must have started sleep before ^C comes
    child.sendintr()  # ^C: the container's terminal turns it into SIGINT for sleep
    child.expect("# ")
    child.sendline("echo survived")
    child.expect("survived")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_exec_it(name):
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        child = spawn("exec", "-it", name, "sh")
        child.expect("# ")
        child.sendline("cat /proc/1/cmdline | tr '\\0' ' '; echo")
        child.expect("sleep 300")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        sandbox("rm", "-f", name)


def test_t_with_d_keeps_a_terminal(name):
    """``-dt``: the monitor holds the terminal, so the shell waits on it instead of exiting."""
    sandbox("run", "-dt", "--name", name, "busybox", "sh", check=True)
    time.sleep(0.3)
    r = sandbox("inspect", "-f", "{{.State.Status}} {{.Config.Tty}}", name)
    assert r.stdout.split() == ["running", "true"]
    sandbox("rm", "-f", name, check=True)

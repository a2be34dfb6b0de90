"""Restart policies: whether a container that exited starts again, and after how long.

    --restart no               never (the default)
    --restart on-failure[:N]   when it exits with a code other than 0, at most N times
    --restart always           whatever the code, until ``stop`` (or ``rm -f``)
    --restart unless-stopped   the same here: the two differ only when Docker's daemon starts

Docker's daemon carries the policy out; here the container's monitor does
(:mod:`sandbox.engine.monitor`), with Docker's back-off (moby's restartmanager):
wait 100 ms before the first restart, twice as long before each next one, at
most a minute, and back to 100 ms once a run lasted 10 seconds or more, so
that a container that fails at once does not spin.

There is no daemon: when the machine reboots, nothing starts these containers
again.  ``sandbox start $(sandbox ps -aq --filter ...)`` or a systemd unit
that runs ``sandbox start NAME`` brings them back.

Pure decisions only: no processes, no files.
"""

from __future__ import annotations

from ..errors import UsageError

POLICIES = ("no", "always", "on-failure", "unless-stopped")
FIRST_DELAY = 0.1     # seconds, moby's defaultTimeout
LONGEST_DELAY = 60.0  # moby's maxRestartTimeout
RESET_AFTER = 10.0    # a run this long resets the delay


def parse(text: str, auto_remove: bool = False) -> dict:
    """``on-failure:3`` → {"Name": "on-failure", "MaximumRetryCount": 3}, checked as Docker does."""
    name, colon, count = text.partition(":")
    if name == "":
        name = "no"
    if name not in POLICIES:
        raise UsageError(f"invalid restart policy: unknown policy '{name}'; use one of 'no', "
                         "'always', 'on-failure', or 'unless-stopped'")
    retries = 0
    if colon:
        if name != "on-failure":
            raise UsageError(f"invalid restart policy: maximum retry count can only be used "
                             f"with 'on-failure' (--restart {text})")
        try:
            retries = int(count)
        except ValueError:
            raise UsageError(f"invalid restart policy: maximum retry count must be a number "
                             f"(--restart {text})") from None
        if retries < 0:
            raise UsageError(f"invalid restart policy: maximum retry count cannot be negative "
                             f"(--restart {text})")
    if auto_remove and name != "no":
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    return {"Name": name, "MaximumRetryCount": retries}


def should_restart(policy: dict | None, exit_code: int, restarts_so_far: int,
                   stopped_by_user: bool) -> bool:
    """Docker's ShouldRestart: ``stop`` always wins; on-failure counts its retries."""
    name = (policy or {}).get("Name", "no")
    if stopped_by_user or name == "no":
        return False
    if name == "on-failure":
        most = policy.get("MaximumRetryCount", 0)
        return exit_code != 0 and (most == 0 or restarts_so_far < most)
    return True  # always, unless-stopped


def next_delay(previous: float, ran_for: float) -> float:
    """How long to wait before the next start: 100 ms, doubling, reset by a 10 s run."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, LONGEST_DELAY)

"""Flags the way Docker's command line reads them (spf13/pflag).

- short flags combine: ``-it`` is ``-i -t``; a short flag's value may follow
  directly or as the next word: ``-eA=1`` or ``-e A=1``;
- long flags take ``--name web`` or ``--name=web``; a boolean takes ``--rm`` or ``--rm=false``;
- repeatable flags (``-e``) collect a list;
- for ``run`` and ``exec``, the first word that is not a flag ends the flags,
  so ``sandbox run busybox ls -l`` passes ``-l`` to ``ls``; ``--`` ends them too.

It is small on purpose: ``sandbox --help`` must start fast, and argparse
differs from Docker in these details.
"""

from __future__ import annotations


from ..errors import UsageError


class Flag:
    """One flag: ``--long``, ``-s``, what kind of value it takes, and its help line."""

    def __init__(self, long: str, short: str = "", kind: str = "bool", help: str = "",
                 default=None, metavar: str = ""):
        self.long = long          # "name" for --name
        self.short = short        # "n" for -n
        self.kind = kind          # bool | str | int | float | list
        self.help = help
        self.default = default
        self.metavar = metavar

    @property
    def dest(self) -> str:
        return self.long.replace("-", "_")


class Command:
    """One verb: its usage line, summary, flags, and how many arguments it takes."""

    def __init__(self, name: str, usage: str, summary: str, flags: list[Flag] = (),
                 min_args: int = 0, max_args: int | None = None, interspersed: bool = True):
        self.name = name
        self.usage = usage              # "[OPTIONS] IMAGE [COMMAND] [ARG...]"
        self.summary = summary
        self.flags = list(flags)
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed  # False: flags end at the first positional argument

    def help(self, prog: str = "sandbox") -> str:
        lines = [f"Usage:  {prog} {self.name} {self.usage}", "", self.summary]
        if self.flags:
            lines += ["", "Options:"]
            for f in self.flags:
                names = (f"-{f.short}, " if f.short else "    ") + f"--{f.long}"
                if f.kind != "bool":
                    names += " " + (f.metavar or f.kind)
                lines.append(f"  {names:<28} {f.help}")
        return "\n".join(lines)


def parse(command: Command, argv: list[str]) -> tuple[dict, list[str]]:
    """Parse ``argv`` for ``command``; return (flag values by dest, positional arguments)."""
    by_long = {f.long: f for f in command.flags}
    by_short = {f.short: f for f in command.flags if f.short}
    values: dict = {f.dest: ([] if f.kind == "list" else f.default) for f in command.flags}
    values["help"] = False
    positional: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if positional and not command.interspersed:
            positional.append(word)
            continue
        if word == "--":
            positional += argv[i:]
            break
        if word == "--help" or (word == "-h" and "h" not in by_short):
            values["help"] = True
            continue
        if word.startswith("--"):
            name, eq, inline = word[2:].partition("=")
            flag = by_long.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: --{name}\nSee 'sandbox {command.name} --help'.")
            if flag.kind == "bool":
                values[flag.dest] = _bool(flag, inline) if eq else True
            else:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: --{name}")
                    inline, i = argv[i], i + 1
                _store(values, flag, inline)
        elif word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                flag = by_short.get(word[j])
                if flag is None:
                    raise UsageError(f"unknown shorthand flag: '{word[j]}' in {word}\n"
                                     f"See 'sandbox {command.name} --help'.")
                j += 1
                if flag.kind == "bool":
                    values[flag.dest] = True
                    continue
                rest = word[j:].removeprefix("=")
                if not rest:
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: '{flag.short}' in -{flag.short}")
                    rest, i = argv[i], i + 1
                _store(values, flag, rest)
                break
        else:
            positional.append(word)
    if values["help"]:
        return values, positional
    if len(positional) < command.min_args or (command.max_args is not None
                                              and len(positional) > command.max_args):
        error = UsageError(f'"sandbox {command.name}" requires '
                           f"{_count_phrase(command)}.\nSee 'sandbox {command.name} --help'.\n\n"
                           f"Usage:  sandbox {command.name} {command.usage}\n\n{command.summary}")
        error.exit_code = 1  # Docker's: a flag error is 125, a wrong count of arguments 1
        raise error
    return values, positional


def _count_phrase(command: Command) -> str:
    if command.max_args == command.min_args:
        return f"exactly {command.min_args} argument{'s' if command.min_args != 1 else ''}"
    if command.max_args is None:
        return f"at least {command.min_args} argument{'s' if command.min_args != 1 else ''}"
    return f"at most {command.max_args} argument{'s' if command.max_args != 1 else ''}"


def _bool(flag: Flag, text: str) -> bool:
    if text.lower() in ("true", "1", "t"):
        return True
    if text.lower() in ("false", "0", "f"):
        return False
    raise UsageError(f'invalid argument "{text}" for "--{flag.long}" flag: '
                     "strconv.ParseBool: parsing \"" + text + '": invalid syntax')


def _store(values: dict, flag: Flag, text: str) -> None:
    if flag.kind == "list":
        values[flag.dest].append(text)
    elif flag.kind in ("int", "float"):
        try:
            values[flag.dest] = int(text) if flag.kind == "int" else float(text)
        except ValueError:
            raise UsageError(f'invalid argument "{text}" for "--{flag.long}" flag: '
                             f"expected a{'n integer' if flag.kind == 'int' else ' number'}") from None
    else:
        values[flag.dest] = text

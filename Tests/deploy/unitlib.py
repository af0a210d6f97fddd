"""What Deploy/systemd/portcullisd.service allows, read from the file and from systemd-analyze:
the system call set its SystemCallFilter= lines give, and its RestrictAddressFamilies=."""
import functools
import re
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "Deploy" / "systemd" / "portcullisd.service"


def settings(name: str, unit: Path = UNIT) -> list[str]:
    """Every value of `name=` in the unit, in order (comments skipped)."""
    values = []
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith(name + "="):
            values.append(line[len(name) + 1:])
    return values


@functools.cache
def expand(group: str) -> frozenset[str]:
    """The system calls of a systemd group (`@system-service`), nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= expand(item) if item.startswith("@") else {item}
    if not calls:
        raise SystemExit(f"systemd-analyze syscall-filter {group}: no system calls")
    return frozenset(calls)


def names(value: str) -> set[str]:
    calls = set()
    for item in value.split():
        calls |= expand(item) if item.startswith("@") else {item}
    return calls


def allowed_syscalls(lines: list[str]) -> set[str]:
    """The set systemd builds from SystemCallFilter= lines: the first line without `~` starts an
    allow list; later lines add to it, `~` lines take away from it."""
    if not lines or lines[0].startswith("~"):
        raise SystemExit("the unit must start its SystemCallFilter= with an allow list")
    allowed: set[str] = set()
    for value in lines:
        if value.startswith("~"):
            allowed -= names(value[1:])
        else:
            allowed |= names(value)
    return allowed


def address_families(unit: Path = UNIT) -> set[str]:
    families = set()
    for value in settings("RestrictAddressFamilies", unit):
        if value.startswith("~"):
            raise SystemExit("RestrictAddressFamilies= must be an allow list")
        families |= set(value.split())
    return families


SYSCALL = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()")


class Trace:
    """What `strace -f -o FILE` recorded: every call's name, the sockets' families, and each
    mmap/mprotect/pkey_mprotect/shmat call line (MemoryDenyWriteExecute looks at their flags)."""

    def __init__(self, path: Path):
        self.calls: dict[str, int] = {}
        self.families: set[str] = set()
        self.memory: list[str] = []
        for line in path.read_text(errors="replace").splitlines():
            match = SYSCALL.match(line)
            if not match:
                continue
            name = match.group(2) or match.group(3)
            if match.group(2):
                continue  # counted at its "unfinished" start
            self.calls[name] = self.calls.get(name, 0) + 1
            if name in ("socket", "socketpair"):
                family = re.search(r"\((AF_\w+|\d+)", line)
                self.families.add(family.group(1) if family else "?")
            if name in ("mmap", "mprotect", "pkey_mprotect", "shmat"):
                self.memory.append(line)

    def memory_violations(self) -> list[str]:
        """Calls systemd's MemoryDenyWriteExecute= refuses: mmap with PROT_WRITE and PROT_EXEC
        together, mprotect/pkey_mprotect adding PROT_EXEC, shmat with SHM_EXEC."""
        bad = []
        for line in self.memory:
            name = SYSCALL.match(line).group(3)
            if name == "mmap" and "PROT_WRITE" in line and "PROT_EXEC" in line:
                bad.append(line)
            elif name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in line:
                bad.append(line)
            elif name == "shmat" and "SHM_EXEC" in line:
                bad.append(line)
        return bad

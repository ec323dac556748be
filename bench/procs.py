"""Per-process CPU time and memory from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # user + system
    rss_mib: float
    peak_rss_mib: float  # VmHWM: the process's high-water mark since it started


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may contain spaces: split after it.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    # After the name: state(0) ppid(1) ... utime(11) stime(12)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine spent (user, system, irq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


def usage(pid: int) -> Usage:
    return Usage(
        cpu_seconds(pid),
        _status_kib(pid, "VmRSS") / 1024,
        _status_kib(pid, "VmHWM") / 1024,
    )


def children(parent: int) -> list[int]:
    """Direct children of ``parent`` (e.g. PostgreSQL's backends)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[1]) == parent:
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def group_usage(pids: list[int]) -> Usage:
    """Summed CPU and RSS of several processes (peak: the sum of each one's peak)."""
    cpu = rss = peak = 0.0
    for pid in pids:
        try:
            one = usage(pid)
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        cpu += one.cpu_seconds
        rss += one.rss_mib
        peak += one.peak_rss_mib
    return Usage(cpu, rss, peak)


class Tracked:
    """A named set of processes: one pid, or a parent and its children (PostgreSQL)."""

    def __init__(self, name: str, pid: int, *, with_children: bool = False) -> None:
        self.name = name
        self.pid = pid
        self.with_children = with_children

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)] if self.with_children else [self.pid]

    def sample(self) -> Usage:
        return group_usage(self.pids())


def postmaster_pid(datadir: Path) -> int:
    return int((datadir / "postmaster.pid").read_text().splitlines()[0])

"""How many CPUs this process may use: one answer for every module that sizes threads or processes by it."""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


def usable_cpus(cpu_max: str = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (a container's CPU limit, which
    the mask does not show), rounded down but at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path(cpu_max).read_text().split()[:2]
    except (OSError, ValueError):
        return cpus  # no cgroup v2 here, or nothing readable: the mask is all we know
    if quota != "max" and quota.isdigit() and period.isdigit() and int(period) > 0:
        cpus = min(cpus, max(int(quota) // int(period), 1))
    return cpus

"""The benchmark's table, ratios and targets, from the JSON result."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

COLUMNS = ("gateway", "router", "sender", "simulator", "postgres", "naive", "driver")


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def table(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"{'run':<22}{'fwd/s':>8}{'ack/s':>8}{'ack p50':>9}{'p95':>7}{'p99':>7}"
        f"{'e2e p50':>9}{'p99':>7}{'errors':>8}{'backlog':>9}",
    ]
    for name, run in runs.items():
        ack, e2e = run["ack_ms"], run["e2e_ms"]
        lines.append(
            f"{name:<22}{run['forwarded_per_s']:>8,.0f}{run['ack_per_s']:>8,.0f}"
            f"{_ms(ack.get('p50')):>9}{_ms(ack.get('p95')):>7}{_ms(ack.get('p99')):>7}"
            f"{_ms(e2e.get('p50')):>9}{_ms(e2e.get('p99')):>7}{run['errors']:>8}"
            f"{run['backlog']:>9,}"
        )
    lines.append("")
    lines.append("CPU seconds per 1,000 forwarded messages (cores busy) | peak RSS MiB")
    lines.append(f"{'run':<22}" + "".join(f"{c:>18}" for c in COLUMNS) + f"{'other':>8}")
    for name, run in runs.items():
        cells = []
        for column in COLUMNS:
            if column in run["cpu_s_per_1k"]:
                cell = f"{run['cpu_s_per_1k'][column]:.2f}({run['cores_used'][column]:.2f})"
                peak = run["peak_rss_mib"].get(column)
                cell += f"|{peak:.0f}" if peak is not None else ""
            else:
                cell = "-"
            cells.append(f"{cell:>18}")
        other = run["cores_used"].get("other")
        lines.append(f"{name:<22}" + "".join(cells) + f"{_num(other):>8}")
    return lines


def _find(runs: dict[str, dict[str, Any]], prefix: str, suffix: str) -> dict[str, Any] | None:
    for name, run in runs.items():
        if name.startswith(prefix) and name.endswith(suffix):
            return run
    return None


def targets(runs: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target the runs can judge."""
    out: list[tuple[str, str, bool | None]] = []
    sim = runs.get("simulator alone")
    if sim:
        rate = sim["forwarded_per_s"]
        out.append(("simulator alone >= 5,000 req/s", f"{rate:,.0f}/s", rate >= 5000))
    naive = runs.get("naive forwarder")
    floor = runs.get("hop floor")
    pg_max = _find(runs, "pg 10k", "max")
    pg_half = _find(runs, "pg 10k", "half")
    if pg_max:
        fwd = pg_max["forwarded_per_s"]
        if naive:
            ratio = fwd / naive["forwarded_per_s"]
            out.append(("durable (PG) >= 2x naive forwarder", f"{ratio:.2f}x", ratio >= 2))
            out.append(("goal: >= 3x naive", f"{ratio:.2f}x", ratio >= 3))
        out.append(("goal: >= 1,000 forwarded/s", f"{fwd:,.0f}/s", fwd >= 1000))
        if floor:
            ratio = fwd / floor["forwarded_per_s"]
            out.append(("(ratio to the hop floor, no target)", f"{ratio:.2f}x", None))
    if pg_half:
        p99 = pg_half["ack_ms"]["p99"]
        out.append(("ack p99 <= 50 ms at half the maximum (PG)", f"{p99:.1f} ms", p99 <= 50))
    large_max = next((r for n, r in runs.items() if n.startswith("pg") and "10k" not in n
                      and n.endswith("max")), None)  # fmt: skip
    large_half = next((r for n, r in runs.items() if n.startswith("pg") and "10k" not in n
                       and n.endswith("half")), None)  # fmt: skip
    if pg_max and large_max:
        ratio = large_max["forwarded_per_s"] / pg_max["forwarded_per_s"]
        out.append(("large/10k sessions throughput within 20%", f"{ratio:.2f}",
                    abs(ratio - 1) <= 0.2))  # fmt: skip
    if pg_half and large_half:
        ratio = large_half["ack_ms"]["p99"] / pg_half["ack_ms"]["p99"]
        out.append(("large/10k ack p99 (same rate) within 20%", f"{ratio:.2f}", ratio <= 1.2))
        e2e_small, e2e_large = pg_half["e2e_ms"].get("p99"), large_half["e2e_ms"].get("p99")
        if e2e_small and e2e_large:
            ratio = e2e_large / e2e_small
            out.append(("large/10k e2e p99 (same rate) within 20%", f"{ratio:.2f}", ratio <= 1.2))
    growth = {
        f"{name}/{svc}": mib
        for name, run in runs.items()
        if "max" in name
        for svc, mib in run["rss_growth_mib"].items()
        if svc in ("gateway", "router", "sender")
    }
    if growth:
        worst = max(growth, key=lambda k: growth[k])
        out.append(("no service's RSS grows during a run (worst growth)",
                    f"{worst} {growth[worst]:+.1f} MiB", growth[worst] < 10))  # fmt: skip
    if pg_max and large_max:
        deltas = {
            svc: large_max["peak_rss_mib"][svc] - pg_max["peak_rss_mib"][svc]
            for svc in ("gateway", "router", "sender")
            if svc in large_max["peak_rss_mib"] and svc in pg_max["peak_rss_mib"]
        }
        if deltas:
            worst = max(deltas, key=lambda k: deltas[k])
            out.append(("peak RSS same at 10k and large (worst delta)",
                        f"{worst} {deltas[worst]:+.1f} MiB", deltas[worst] < 10))  # fmt: skip
    return out


def print_report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print()
    print(
        f"numproxy benchmark: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, commit {m['commit']}; {result['seconds']:.0f}s"
        + (" (--quick)" if result.get("quick") else "")
    )
    print()
    for line in table(result["runs"]):
        print(line)
    print()
    print("targets")
    for name, measured, met in targets(result["runs"]):
        mark = "  " if met is None else ("ok" if met else "NO")
        print(f"  [{mark}] {name:<52} {measured}")


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print_report(json.load(fh))

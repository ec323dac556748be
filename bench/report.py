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


# The targets (issue figures): what the verdict block judges.
NAIVE_MIN, NAIVE_GOAL, RATE_GOAL = 2.0, 3.0, 1000.0  # durable PG vs the naive forwarder
SQLITE_NAIVE_MIN = 3.0
ROUTER_CPU_MS = 0.8  # router CPU per forwarded message at max load
ACK_P99_MS = 50.0  # at half the maximum
SCALE_BAND = 0.2  # large vs 10k sessions
RSS_GROWTH_MIB = 20.0  # over one run's measured window
SERVICES = ("gateway", "router", "sender")  # whose memory is judged (numproxy's own)
# The event stream (bench/run.py's "events" runs).
EVENTS_ALONE, EVENTS_WATCHED, EVENTS_HALF = (
    "events max, no watcher",
    "events max, watching",
    "events half, watching",
)
EVENT_P99_MS = 100.0  # committed -> a connected watcher has it, at half load
WATCH_SLOWDOWN = 0.10  # forwarding with a watcher connected vs without


def numproxy_runs(runs: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The numproxy runs by (backend, scenario, mode): run "pg busy max" is
    ("pg", "busy", "max"); scenarios are "10k", "busy" and the large size ("1M", "100k")."""
    out = {}
    for name, run in runs.items():
        words = name.split()
        if len(words) == 3 and words[0] in ("pg", "sqlite") and words[2] in ("max", "half"):
            out[(words[0], words[1], words[2])] = run
    return out


def _verdict(target: str, measured: str, met: bool | None) -> dict[str, Any]:
    """One line of the verdict; ``met`` None: shown for information, no target."""
    return {"target": target, "measured": measured, "met": met}


def _mib(value: float) -> str:
    return f"{round(value, 1) + 0.0:+.1f}"  # no "-0.0"


def targets(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets verdict, each {target, measured, met}, for what the runs can judge:

    - durable PostgreSQL forwarded/s >= 2x the naive forwarder's (goal: 3x and >= 1,000/s),
      with 10k sessions and with one busy conversation;
    - SQLite (10k sessions, busy conversation) >= 3x the naive forwarder's;
    - router CPU per forwarded message <= 0.8 ms in each numproxy max run;
    - acknowledgement p99 <= 50 ms in each half run;
    - large vs 10k sessions: forwarded/s, and at the same rate ack and e2e p99, within 20%;
    - RSS growth over each numproxy run <= 20 MiB for the gateway, router and sender (the
      simulator keeps its outbox in memory between clears and PostgreSQL's RSS counts the
      shared buffers it touches: their growth is in the runs' figures, not judged); peak RSS
      at 10k vs large;
    - the event stream: p99 from an event's transaction to a connected watcher <= 100 ms at
      half load, and forwarded/s with a watcher connected >= 90% of without.
    """
    out: list[dict[str, Any]] = []
    sim = runs.get("simulator alone")
    if sim:
        rate = sim["forwarded_per_s"]
        out.append(_verdict("simulator alone >= 5,000 req/s", f"{rate:,.0f}/s", rate >= 5000))
    naive = runs.get("naive forwarder")
    floor = runs.get("hop floor")
    ours = numproxy_runs(runs)
    naive_rate = naive["forwarded_per_s"] if naive else 0.0
    for backend, scenario, minimum in (("pg", "10k", NAIVE_MIN), ("pg", "busy", NAIVE_MIN),
                                       ("sqlite", "10k", SQLITE_NAIVE_MIN),
                                       ("sqlite", "busy", SQLITE_NAIVE_MIN)):  # fmt: skip
        peak = ours.get((backend, scenario, "max"))
        if peak is None:
            continue
        fwd = peak["forwarded_per_s"]
        label = f"{backend} {scenario} max"
        if not naive_rate:
            out.append(_verdict(f"{label}: >= {minimum:g}x naive", "no naive run", None))
            continue
        ratio = fwd / naive_rate
        out.append(_verdict(f"{label}: forwarded/s >= {minimum:g}x naive",
                            f"{ratio:.2f}x ({fwd:,.0f} vs {naive_rate:,.0f}/s)",
                            ratio >= minimum))  # fmt: skip
        if backend == "pg":
            out.append(_verdict(f"  goal: >= {NAIVE_GOAL:g}x naive and >= {RATE_GOAL:,.0f}/s",
                                f"{ratio:.2f}x, {fwd:,.0f}/s",
                                ratio >= NAIVE_GOAL and fwd >= RATE_GOAL))  # fmt: skip
            if floor:
                ratio = fwd / floor["forwarded_per_s"]
                out.append(_verdict("  (ratio to the hop floor, no target)", f"{ratio:.2f}x",
                                    None))  # fmt: skip
    for (backend, scenario, mode), run in ours.items():
        if mode != "max":
            continue
        cpu = run["cpu_s_per_1k"].get("router")
        if cpu is not None:
            out.append(_verdict(f"{backend} {scenario} max: router CPU <= {ROUTER_CPU_MS} ms/msg",
                                f"{cpu:.2f} ms", cpu <= ROUTER_CPU_MS))  # fmt: skip
    for (backend, scenario, mode), run in ours.items():
        if mode != "half":
            continue
        p99 = run["ack_ms"]["p99"]
        out.append(_verdict(f"{backend} {scenario} half: ack p99 <= {ACK_P99_MS:g} ms",
                            f"{p99:.1f} ms", p99 <= ACK_P99_MS))  # fmt: skip
    small_max, small_half = ours.get(("pg", "10k", "max")), ours.get(("pg", "10k", "half"))
    large = next((s for b, s, _ in ours if b == "pg" and s not in ("10k", "busy")), None)
    large_max = ours.get(("pg", large, "max")) if large else None
    large_half = ours.get(("pg", large, "half")) if large else None
    if small_max and large_max:
        ratio = large_max["forwarded_per_s"] / small_max["forwarded_per_s"]
        out.append(_verdict(f"pg {large} vs 10k: forwarded/s within 20%", f"{ratio:.2f}",
                            abs(ratio - 1) <= SCALE_BAND))  # fmt: skip
    if small_half and large_half:
        ratio = large_half["ack_ms"]["p99"] / small_half["ack_ms"]["p99"]
        out.append(_verdict(f"pg {large} vs 10k: ack p99 (same rate) within 20%",
                            f"{ratio:.2f}", ratio <= 1 + SCALE_BAND))  # fmt: skip
        e2e_small, e2e_large = small_half["e2e_ms"].get("p99"), large_half["e2e_ms"].get("p99")
        if e2e_small and e2e_large:
            ratio = e2e_large / e2e_small
            out.append(_verdict(f"pg {large} vs 10k: e2e p99 (same rate) within 20%",
                                f"{ratio:.2f}", ratio <= 1 + SCALE_BAND))  # fmt: skip
    for (backend, scenario, mode), run in ours.items():
        growth = run["rss_growth_mib"]
        judged = {svc: growth[svc] for svc in SERVICES if svc in growth}
        if not judged:
            continue
        ranked = sorted(judged, key=lambda svc: (svc != "router", svc))  # the router first
        measured = ", ".join(f"{svc} {_mib(judged[svc])}" for svc in ranked) + " MiB"
        out.append(_verdict(f"{backend} {scenario} {mode}: RSS growth <= {RSS_GROWTH_MIB:g} MiB",
                            measured, max(judged.values()) <= RSS_GROWTH_MIB))  # fmt: skip
    if small_max and large_max:
        deltas = {
            svc: large_max["peak_rss_mib"][svc] - small_max["peak_rss_mib"][svc]
            for svc in SERVICES
            if svc in large_max["peak_rss_mib"] and svc in small_max["peak_rss_mib"]
        }
        if deltas:
            worst = max(deltas, key=lambda k: deltas[k])
            out.append(_verdict(f"pg {large} vs 10k: peak RSS within 10 MiB (worst)",
                                f"{worst} {_mib(deltas[worst])} MiB",
                                deltas[worst] < 10))  # fmt: skip
    return out + event_targets(runs)


def event_targets(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    half = runs.get(EVENTS_HALF)
    if half and half.get("event_ms"):
        ms = half["event_ms"]
        out.append(_verdict(f"events half: visibility (answer -> watcher) p99 <= "
                            f"{EVENT_P99_MS:g} ms",
                            f"p50 {ms['answer_p50']:.1f}, p99 {ms['answer_p99']:.1f} ms "
                            f"({ms['answer_count']:,.0f} probes, "
                            f"{half['forwarded_per_s']:,.0f} fwd/s)",
                            ms["answer_p99"] <= EVENT_P99_MS))  # fmt: skip
        out.append(_verdict("  (request -> watcher: the upper bound, no target)",
                            f"p50 {ms['request_p50']:.1f}, p99 {ms['request_p99']:.1f} ms",
                            None))  # fmt: skip
        out.append(_verdict("  (transaction start -> watcher, every event, no target)",
                            f"p50 {ms['transaction_p50']:.1f}, p99 "
                            f"{ms['transaction_p99']:.1f} ms",
                            None))  # fmt: skip
    alone, watched = runs.get(EVENTS_ALONE), runs.get(EVENTS_WATCHED)
    if alone and watched:
        ratio = watched["forwarded_per_s"] / alone["forwarded_per_s"]
        out.append(_verdict(f"events max: forwarded/s watching >= {1 - WATCH_SLOWDOWN:.0%} "
                            "of without",
                            f"{ratio:.2f} ({watched['forwarded_per_s']:,.0f} vs "
                            f"{alone['forwarded_per_s']:,.0f}/s)",
                            ratio >= 1 - WATCH_SLOWDOWN))  # fmt: skip
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
    verdicts = result.get("targets") or targets(result["runs"])
    if not verdicts:
        return
    width = max(len(v["target"]) for v in verdicts)
    measured = max(len(v["measured"]) for v in verdicts)
    print("targets verdict")
    print(f"  {'target':<{width}}  {'measured':<{measured}}  met")
    for v in verdicts:
        met = "-" if v["met"] is None else ("yes" if v["met"] else "NO")
        print(f"  {v['target']:<{width}}  {v['measured']:<{measured}}  {met}")


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print_report(json.load(fh))

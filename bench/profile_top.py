"""Summarize py-spy's collapsed stacks (``--format raw``): where a service spends its samples.

python -m bench.profile_top FILE [--inclusive] [--top N] [--match TEXT]
"""

from __future__ import annotations

import argparse
import collections
import re

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def frames(stack: str) -> list[str]:
    # "func (file.py:123)" -> "func (file.py)": one entry per function, not per line.
    return [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--inclusive", action="store_true", help="time in a function + callees")
    parser.add_argument("--match", help="only stacks containing this text")
    args = parser.parse_args()
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    with open(args.file) as fh:
        for line in fh:
            match = _LINE.match(line.rstrip("\n"))
            if not match or (args.match and args.match not in match["stack"]):
                continue
            count = int(match["count"])
            samples += count
            stack = frames(match["stack"])
            if args.inclusive:
                for frame in set(stack):
                    totals[frame] += count
            else:
                totals[stack[-1]] += count
    print(f"{samples} samples")
    for frame, count in totals.most_common(args.top):
        print(f"{100 * count / max(samples, 1):6.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()

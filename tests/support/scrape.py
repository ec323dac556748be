"""Reading a service's Prometheus metrics the way Prometheus does: over HTTP, parsed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    """Every sample at ``url``, keyed by (sample name, labels)."""
    async with httpx.AsyncClient(timeout=5) as http:
        reply = await http.get(url)
    reply.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent, as an unset counter)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def wait_scrape(url: str, ready: Callable[[Samples], bool], timeout: float = 20.0) -> Samples:
    """Scrape ``url`` until ``ready`` holds for what it shows; the last scrape."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples = await scrape(url)
        if ready(samples):
            return samples
        if loop.time() > deadline:
            shown = sorted(f"{n}{dict(labels)}={v}" for (n, labels), v in samples.items())
            raise AssertionError(f"{url} did not show what was awaited within {timeout}s: {shown}")
        await asyncio.sleep(0.1)


def names(samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {name for name, _ in samples}


async def exported_names(url: str) -> set[str]:
    """Every sample name ``url`` exports or would export, from its families' names and types
    (a labelled counter nothing has incremented yet still declares its family)."""
    async with httpx.AsyncClient(timeout=5) as http:
        reply = await http.get(url)
    reply.raise_for_status()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    found: set[str] = set()
    for family in text_string_to_metric_families(reply.text):
        found.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return found

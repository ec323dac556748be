"""Baseline (a): the naive single-process forwarder, the seed's logic in Python.

What the seed script does, written the way a Python developer would first write it: one
Starlette app under uvicorn (its defaults: httptools, and uvloop when installed), the pairs
in a dict in memory, one ``httpx.AsyncClient`` (httpx's default transport) and, for each
inbound webhook, one POST to ``/sms/json`` from the partner's proxy number, answered once the
provider accepted it. No persistence, no dedupe, no retries, no logging per message.

    python -m bench.naive PORT PROVIDER_URL SESSIONS POOL_NUMBERS
"""

from __future__ import annotations

import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build_pairs(sessions: int, pool_numbers: int) -> dict[tuple[str, str], tuple[str, str]]:
    """(sender, number texted) -> (partner, partner's proxy number), in bench_routing's
    numbering: session i has real numbers 2i and 2i+1 on proxy numbers i and i+1 (mod pool)."""
    pairs = {}
    for i in range(sessions):
        real = [f"1{2_000_000_000 + 2 * i + side}" for side in (0, 1)]
        proxy = [f"1{9_000_000_000 + (i + side) % pool_numbers}" for side in (0, 1)]
        pairs[(real[0], proxy[0])] = (real[1], proxy[1])
        pairs[(real[1], proxy[1])] = (real[0], proxy[0])
    return pairs


def create_app(provider_url: str, sessions: int, pool_numbers: int) -> Starlette:
    pairs = build_pairs(sessions, pool_numbers)
    client = httpx.AsyncClient(timeout=10)
    url = provider_url.rstrip("/") + "/sms/json"

    async def inbound(request: Request) -> Response:
        params = request.query_params
        partner = pairs.get((params.get("msisdn", ""), params.get("to", "")))
        if partner is not None:
            to, sender = partner
            await client.post(
                url,
                data={
                    "api_key": "simkey",
                    "api_secret": "simsecret",
                    "from": sender,
                    "to": to,
                    "text": params.get("text", ""),
                },
            )
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[
            Route("/webhooks/inbound-sms", inbound, methods=["GET", "POST"]),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    port, provider_url, sessions, pool_numbers = sys.argv[1:5]
    app = create_app(provider_url, int(sessions), int(pool_numbers))
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

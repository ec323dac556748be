"""numproxy.v1.PoolService: proto <-> pools domain."""

from __future__ import annotations

from numproxy.common.errors import Context
from numproxy.router.api import convert
from numproxy.router.api.access import allowed_pools, check_pool
from numproxy.router.sessions.pools import Pools
from numproxy.v1 import pool_pb2, pool_pb2_grpc


class PoolServicer(pool_pb2_grpc.PoolServiceServicer):
    """Each call naming a pool checks it against the caller's pool limit first."""

    def __init__(self, pools: Pools) -> None:
        self._pools = pools

    async def CreatePool(
        self, request: pool_pb2.CreatePoolRequest, context: Context
    ) -> pool_pb2.CreatePoolResponse:
        check_pool(request.pool_id, field="pool_id")
        pool = await self._pools.create_pool(request.pool_id, convert.pool_spec(request.pool))
        return pool_pb2.CreatePoolResponse(pool=convert.pool_message(pool))

    async def UpdatePool(
        self, request: pool_pb2.UpdatePoolRequest, context: Context
    ) -> pool_pb2.UpdatePoolResponse:
        check_pool(request.pool.name, field="pool.name")
        pool = await self._pools.update_pool(
            request.pool.name, list(request.update_mask.paths), convert.pool_spec(request.pool)
        )
        return pool_pb2.UpdatePoolResponse(pool=convert.pool_message(pool))

    async def GetPool(
        self, request: pool_pb2.GetPoolRequest, context: Context
    ) -> pool_pb2.GetPoolResponse:
        check_pool(request.name, field="name")
        pool = await self._pools.get_pool(request.name)
        return pool_pb2.GetPoolResponse(pool=convert.pool_message(pool))

    async def ListPools(
        self, request: pool_pb2.ListPoolsRequest, context: Context
    ) -> pool_pb2.ListPoolsResponse:
        page = await self._pools.list_pools(
            request.page_size, request.page_token, within=allowed_pools()
        )
        return pool_pb2.ListPoolsResponse(
            pools=[convert.pool_message(p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def AddNumbers(
        self, request: pool_pb2.AddNumbersRequest, context: Context
    ) -> pool_pb2.AddNumbersResponse:
        check_pool(request.pool)
        numbers = await self._pools.add_numbers(request.pool, list(request.numbers))
        return pool_pb2.AddNumbersResponse(numbers=[convert.number_message(n) for n in numbers])

    async def RemoveNumber(
        self, request: pool_pb2.RemoveNumberRequest, context: Context
    ) -> pool_pb2.RemoveNumberResponse:
        check_pool(request.pool)
        number = await self._pools.remove_number(request.pool, request.number)
        return pool_pb2.RemoveNumberResponse(number=convert.number_message(number))

    async def ListNumbers(
        self, request: pool_pb2.ListNumbersRequest, context: Context
    ) -> pool_pb2.ListNumbersResponse:
        if request.pool:
            check_pool(request.pool)
        page = await self._pools.list_numbers(
            request.pool, request.page_size, request.page_token, within=allowed_pools()
        )
        return pool_pb2.ListNumbersResponse(
            numbers=[convert.number_message(n) for n in page.items],
            next_page_token=page.next_page_token,
        )

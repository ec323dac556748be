"""A directory number, as an app's HookService for numproxy (see docs/api.md, "Hooks").

    python docs/examples/hook_app.py 50070 bob=+15551230002 carol=+15551230003
    numproxy pool update directory --hook-address 127.0.0.1:50070 \
        --resolve-out-of-session --intercept-messages

Texting a name to the pool's number opens a session with that person; anything else gets the
list of names. In sessions, phone numbers are removed from texts before they are forwarded.
"""

import asyncio
import re
import sys

import grpc

from numproxy.v1 import hook_pb2, hook_pb2_grpc, session_pb2

PHONE_NUMBER = re.compile(r"\+?\d[\d .-]{6,}\d")


class Directory(hook_pb2_grpc.HookServiceServicer):
    def __init__(self, people: dict[str, str]) -> None:
        self.people = people

    async def ResolveOutOfSession(self, request, context):  # type: ignore[no-untyped-def]
        number = self.people.get(request.text.strip().lower())
        if number is None:
            names = ", ".join(sorted(self.people))
            return hook_pb2.ResolveOutOfSessionResponse(
                reply=hook_pb2.ReplyAction(text=f"Who do you want to reach? Text one of: {names}")
            )
        caller = session_pb2.ParticipantSpec(
            number=request.sender_number, greeting="You're connected: text this number."
        )
        callee = session_pb2.ParticipantSpec(number=number, greeting="Someone asked for you.")
        return hook_pb2.ResolveOutOfSessionResponse(
            create_session=hook_pb2.CreateSessionAction(participants=[caller, callee])
        )

    async def InterceptMessage(self, request, context):  # type: ignore[no-untyped-def]
        cleaned = PHONE_NUMBER.sub("[number removed]", request.text)
        if cleaned == request.text:
            return hook_pb2.InterceptMessageResponse(allow=hook_pb2.AllowAction())
        return hook_pb2.InterceptMessageResponse(rewrite=hook_pb2.RewriteAction(text=cleaned))


async def serve(port: int, people: dict[str, str]) -> None:
    server = grpc.aio.server()
    hook_pb2_grpc.add_HookServiceServicer_to_server(Directory(people), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"hook app listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    entries = dict(arg.split("=", 1) for arg in sys.argv[2:])
    asyncio.run(serve(int(sys.argv[1]), {name.lower(): n for name, n in entries.items()}))

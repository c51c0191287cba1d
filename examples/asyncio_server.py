"""A line and frame server on picoring.asyncio, over loopback.

The server's reader is a ring the transport receives into. Clients send
text lines (answered in upper case) and binary frames ("FRAME <n>\\n" and n
bytes), which the server looks at in place with `peek_view` and then
`consume`s: a frame is never copied out of the ring. Run it as a script:
it checks every answer.
"""

from __future__ import annotations

import asyncio
import hashlib

from picoring import asyncio as pasyncio


async def handle(reader: pasyncio.PicoStreamReader, writer: asyncio.StreamWriter) -> None:
    async for line in reader:
        if line.startswith(b"FRAME "):
            n = int(line[6:])
            digest = hashlib.sha256()
            while n:
                view = await reader.peek_view(min(n, 16 * 1024))  # in place, no copy
                if not len(view):  # the peer left in the middle of a frame
                    writer.close()
                    return
                digest.update(view)
                k = len(view)
                view.release()
                reader.consume(k)
                n -= k
            writer.write(digest.hexdigest().encode() + b"\n")
        else:
            writer.write(line.upper())
        await writer.drain()
    writer.close()


async def client(port: int) -> int:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    checked = 0
    for i in range(20):
        w.write(b"line %d\n" % i)
        frame = bytes([i]) * (50_000 + i)
        w.write(b"FRAME %d\n" % len(frame) + frame)
        await w.drain()
        assert await r.readline() == b"LINE %d\n" % i
        assert await r.readline() == hashlib.sha256(frame).hexdigest().encode() + b"\n"
        checked += 2
    w.close()
    await w.wait_closed()
    return checked


async def amain() -> int:
    server = await pasyncio.start_server(handle, "127.0.0.1", 0, capacity=32 * 1024)
    async with server:
        port = server.sockets[0].getsockname()[1]
        results = await asyncio.gather(*(client(port) for _ in range(4)))
    return sum(results)


def main() -> int:
    checked = asyncio.run(amain())
    assert checked == 4 * 40
    return checked


if __name__ == "__main__":
    print(f"{main()} answers checked")

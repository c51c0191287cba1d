"""picoring.asyncio: StreamReader's behaviour over a ring the transport
fills in place, backpressure, zero-copy peeks, TLS passed through."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from picoring import asyncio as pasyncio

Handler = Callable[[pasyncio.PicoStreamReader, Any], Awaitable[None]]


async def serve_bytes(payload: bytes, chunk: int = 65536, close: bool = True) -> tuple[asyncio.Server, int]:
    """A plain asyncio server that sends `payload` to each client."""

    async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for i in range(0, len(payload), chunk):
            w.write(payload[i : i + chunk])
            await w.drain()
        if close:
            w.close()
            await w.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_lines_exactly_until_and_eof() -> None:
    async def main() -> None:
        server, port = await serve_bytes(b"one\ntwo\r\nHEADER|rest-of-it")
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port, capacity=4096)
            assert await r.readline() == b"one\n"
            assert await r.readuntil(b"\r\n") == b"two\r\n"
            assert await r.readexactly(6) == b"HEADER"
            assert await r.readuntil(b"|") == b"|"
            assert await r.read(4) == b"rest"
            assert await r.read() == b"-of-it"
            assert r.at_eof()
            assert await r.read() == b""
            assert await r.readline() == b""
            w.close()
            await w.wait_closed()

    run(main())


def test_incomplete_and_limit_errors_as_streamreader() -> None:
    async def main() -> None:
        server, port = await serve_bytes(b"abc")
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port)
            with pytest.raises(asyncio.IncompleteReadError) as e:
                await r.readexactly(5)
            assert e.value.partial == b"abc" and e.value.expected == 5
            w.close()
        server, port = await serve_bytes(b"abcdefgh\nxy")
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port, limit=4)
            with pytest.raises(asyncio.LimitOverrunError):
                await r.readuntil(b"\n")
            with pytest.raises(ValueError, match="Separator"):
                await r.readline()  # drops the overlong line, as StreamReader does
            with pytest.raises(asyncio.IncompleteReadError) as e2:
                await r.readuntil(b"\n")
            assert e2.value.partial == b"xy"
            with pytest.raises(ValueError, match="Separator should be at least one-byte"):
                await r.readuntil(b"")
            w.close()

    run(main())


def test_readexactly_larger_than_the_ring() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    async def main() -> None:
        server, port = await serve_bytes(payload)
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port, capacity=64 * 1024)
            assert await r.readexactly(len(payload)) == payload
            w.close()

    run(main())


def test_backpressure_pauses_and_nothing_is_lost() -> None:
    payload = bytes(range(251)) * 20_000  # ~5 MB through a 64 KiB ring
    paused = []

    async def main() -> None:
        server, port = await serve_bytes(payload, chunk=1 << 20)
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port, capacity=64 * 1024)
            await asyncio.sleep(0.2)  # a slow reader: the ring fills meanwhile
            assert len(r._ring) == 64 * 1024
            assert not w.transport.is_reading(), "a full ring must pause the transport"
            got = bytearray()
            while True:
                await asyncio.sleep(0)
                paused.append(r._protocol._reading_paused)
                view = await r.peek_view(4096)
                if not len(view):
                    break
                got += view
                n = len(view)
                view.release()
                r.consume(n)
            assert got == payload
            w.close()

    run(main())
    assert any(paused), "the transport was never paused although the ring filled"


def test_peek_view_is_zero_copy_and_waits() -> None:
    async def main() -> None:
        got_view: list[memoryview] = []

        async def client(port: int) -> None:
            r, w = await pasyncio.open_connection("127.0.0.1", port, capacity=8192)
            view = await r.peek_view(10)  # waits until 10 bytes are there
            got_view.append(view)
            assert bytes(view) == b"0123456789"
            assert view.readonly and view.obj is not None
            with pytest.raises(ValueError, match="more than the reader's capacity"):
                await r.peek_view(8193)
            view.release()
            r.consume(10)
            assert await r.read() == b"tail"
            w.close()

        async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            for part in (b"01234", b"56789tail"):
                w.write(part)
                await w.drain()
                await asyncio.sleep(0.02)
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            await client(server.sockets[0].getsockname()[1])

    run(main())


def test_start_server_lines_and_frames_echo() -> None:
    async def handle(r: pasyncio.PicoStreamReader, w: Any) -> None:
        async for line in r:
            if line == b"FRAME\n":
                head = await r.readexactly(4)
                body = await r.readexactly(int.from_bytes(head, "big"))
                w.write(b"got %d\n" % len(body))
            else:
                w.write(line.upper())
            await w.drain()
        w.close()

    async def main() -> None:
        server = await pasyncio.start_server(handle, "127.0.0.1", 0, capacity=16 * 1024)
        async with server:
            port = server.sockets[0].getsockname()[1]
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"hello\nFRAME\n" + (100_000).to_bytes(4, "big") + b"x" * 100_000 + b"bye\n")
            await w.drain()
            assert await r.readline() == b"HELLO\n"
            assert await r.readline() == b"got 100000\n"
            assert await r.readline() == b"BYE\n"
            w.write_eof()
            assert await r.read() == b""
            w.close()

    run(main())


def test_connection_reset_reaches_the_reader() -> None:
    async def main() -> None:
        async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()  # linger 0: the peer gets a reset, not an end

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            with pytest.raises(ConnectionResetError):
                await r.read(1)
            assert isinstance(r.exception(), ConnectionResetError)
            with pytest.raises(ConnectionResetError):
                await w.drain()
            w.close()

    run(main())


def test_a_reply_after_the_peers_half_close() -> None:
    async def handle(r: pasyncio.PicoStreamReader, w: Any) -> None:
        data = await r.read()  # until the client's write_eof
        w.write(b"got " + data)
        await w.drain()
        w.close()

    async def main() -> None:
        server = await pasyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            w.write(b"hello")
            w.write_eof()
            assert await r.read() == b"got hello"
            w.close()

    run(main())


def test_limits_and_counts_as_streamreader() -> None:
    async def main() -> None:
        server, port = await serve_bytes(b"abcd\nabcde\n")
        async with server:
            r, w = await pasyncio.open_connection("127.0.0.1", port, limit=4)
            assert await r.readuntil(b"\n") == b"abcd\n"  # the separator may end past the limit
            with pytest.raises(asyncio.LimitOverrunError):
                await r.readuntil(b"\n")
            with pytest.raises(TypeError, match="n must be an int .* not float"):
                r.consume(1.5)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="n must be an int .* not str"):
                await r.peek_view("2")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="n must be >= 0, got -1"):
                r.consume(-1)
            assert bytes(await r.peek_view(2)) == b"ab"
            w.close()

    run(main())


def test_a_failing_handler_is_reported_and_its_connection_closed() -> None:
    reported: list[dict[str, Any]] = []

    async def handle(_r: pasyncio.PicoStreamReader, _w: Any) -> None:
        raise RuntimeError("handler failed")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        server = await pasyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            assert await asyncio.wait_for(r.read(), 5) == b""  # closed, not left open
            w.close()

    run(main())
    assert any(isinstance(c.get("exception"), RuntimeError) for c in reported)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def test_tls_is_passed_through(tls_files: tuple[Path, Path]) -> None:
    key, cert = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def handle(r: pasyncio.PicoStreamReader, w: Any) -> None:
        line = await r.readline()
        w.write(line[::-1])
        await w.drain()
        w.close()

    async def main() -> None:
        server = await pasyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx, capacity=4096)
        async with server:
            port = server.sockets[0].getsockname()[1]
            r, w = await pasyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
            assert w.get_extra_info("ssl_object") is not None
            w.write(b"secret\n")
            await w.drain()
            assert await r.read() == b"\nterces"
            w.close()

    run(main())

"""Length-prefixed frames over loopback, received into a ring and decoded
in place.

The sender writes frames of a 4-byte big-endian length and a payload. The
receiver `recv_into`s the ring's writable view (the kernel writes straight
into the ring), then decodes every whole frame from a readable view: the
lengths are read in place, payloads are checked through memoryview slices,
and `find` locates a marker inside the buffered bytes. Nothing is copied
on the way but the one copy the kernel makes. Run it as a script.
"""

from __future__ import annotations

import socket
import threading

import picoring

FRAMES = [bytes([i % 256]) * (i * 37 % 3000 + 1) + b"END" for i in range(400)]


def send(sock: socket.socket) -> None:
    with sock:
        for f in FRAMES:
            sock.sendall(len(f).to_bytes(4, "big") + f)


def main() -> int:
    a, b = socket.socketpair()
    threading.Thread(target=send, args=(a,), daemon=True).start()
    ring = picoring.PicoRingByte(64 * 1024)
    decoded = 0
    with b:
        while True:
            space = ring.get_writable_view()  # all the free space: one grant
            n = b.recv_into(space)
            ring.advance_head(n)  # publish what arrived while the view is alive
            space.release()
            # Decode every whole frame now buffered, in place.
            view = ring.get_readable_view()
            at = 0
            while len(view) - at >= 4:
                size = int.from_bytes(view[at : at + 4], "big")
                if len(view) - at - 4 < size:
                    break  # the rest of this frame has not arrived yet
                payload = view[at + 4 : at + 4 + size]
                assert payload == FRAMES[decoded], f"frame {decoded} differs"
                # The marker is where the frame says, found without a copy.
                assert ring.find(b"END", at + 4) == at + 4 + size - 3
                payload.release()
                decoded += 1
                at += 4 + size
            view.release()
            ring.advance_tail(at)
            if n == 0:
                break
    assert decoded == len(FRAMES) and len(ring) == 0
    return decoded


if __name__ == "__main__":
    print(f"{main()} frames decoded in place")

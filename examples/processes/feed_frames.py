"""One process captures 1 MiB frames, another consumes them in place."""

import multiprocessing as mp

import picoring

FRAME = 1 << 20


def capture(writer: picoring.PipeWriter, frames: int) -> None:
    for i in range(frames):
        writer.write(bytes([i % 256]) * FRAME)  # waits while the pipe is full
    writer.close()  # the reader gets EOF after the last frame


if __name__ == "__main__":
    writer, reader = picoring.shared_pipe(8 * FRAME)
    producer = mp.get_context("spawn").Process(target=capture, args=(writer, 50))
    producer.start()
    seen = 0
    # Wait for a whole frame (or more), not just any byte; empty at EOF.
    while view := reader.get_readable_view(timeout=10, at_least=FRAME):
        whole = len(view) // FRAME * FRAME
        for start in range(0, whole, FRAME):
            frame = view[start : start + FRAME]  # in the shared memory: no copy
            assert frame[0] == frame[-1] == seen % 256
            seen += 1
            frame.release()
        view.release()
        reader.advance_tail(whole)  # hands that memory back to the writer
    producer.join()
    print(f"{seen} frames")

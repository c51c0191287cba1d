"""The seed examples of the four classes, as a plain unittest suite.

Run with `python python_tests/test_suite.py` once `make` has built the
package into .venv (or after `pip install .`).
"""

import unittest

import picoring


class SeedExamples(unittest.TestCase):
    def test_ring_buffer(self) -> None:
        ring = picoring.PicoRingByte(1024)
        self.assertTrue(ring.push_bytes(b"test"))
        self.assertEqual(ring.len(), 4)
        self.assertEqual(bytes(ring.get_readable_view()), b"test")
        ring.advance_tail(2)
        self.assertEqual(ring.pop_bytes(10), b"st")
        self.assertIsNone(ring.pop())

    def test_ring_view_across_the_wrap(self) -> None:
        ring = picoring.PicoRingByte(1024)
        ring.push_bytes(b"x" * 1000)
        ring.advance_tail(1000)
        payload = bytes(range(200))
        self.assertTrue(ring.push_bytes(payload))
        self.assertEqual(bytes(ring.get_readable_view()), payload)

    def test_queue(self) -> None:
        q = picoring.PicoQueueByte(1024)
        self.assertTrue(q.push_bulk(b"queue_test"))
        self.assertEqual(q.pop_bulk(5), b"queue")
        self.assertEqual(q.len(), 5)
        self.assertEqual(bytes(q.get_view()), b"_test")

    def test_byte_stream(self) -> None:
        stream = picoring.PicoByteStreamPy(1024)
        self.assertEqual(stream.write(b"stream_test"), 11)
        self.assertEqual(stream.read(6), b"stream")
        self.assertEqual(stream.available_to_read(), 5)

    def test_list(self) -> None:
        plist = picoring.PicoListByte()
        plist.extend(b"list_test")
        self.assertEqual(plist.len(), 9)
        self.assertEqual(plist.get(0), ord("l"))
        self.assertTrue(plist.set(0, ord("L")))
        plist.push(ord("!"))
        self.assertEqual(bytes(plist), b"List_test!")


if __name__ == "__main__":
    unittest.main()

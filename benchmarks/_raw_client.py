"""A raw HTTP/1.1 keep-alive client for the benchmarks: no library between the socket and the bytes.

``python _raw_client.py PORT requests|stream N < BODY`` prints the seconds taken for N
requests (or for one stream) to ``POST /v1/chat/completions``.
"""

from __future__ import annotations

import socket
import sys
import time


def _request(body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%b" % (len(body), body)
    )


def _read_response(sock: socket.socket, buf: bytes) -> bytes:
    """Read one response (Content-Length or chunked); returns the bytes read past it."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while not buf.endswith(b"0\r\n\r\n"):
            buf += sock.recv(1 << 20)
        return b""
    length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(buf) < length:
        buf += sock.recv(65536)
    return buf[length:]


def main(port: int, mode: str, n: int, body: bytes) -> float:
    """Seconds for ``n`` sequential requests (``mode="requests"``) or one stream."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = _request(body)
        start = time.perf_counter()
        buf = b""
        for _ in range(n if mode == "requests" else 1):
            sock.sendall(req)
            buf = _read_response(sock, buf)
        return time.perf_counter() - start


if __name__ == "__main__":
    print(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.stdin.buffer.read()))

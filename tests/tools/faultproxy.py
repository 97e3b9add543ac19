"""A TCP proxy between a device and otad that damages or cuts the answers, for the tests.

What it owns (the listener and its lifecycle are tcpproxy.py's): passing every
connection through to the upstream byte for byte, keeping each request's head (what the
device sent, e.g. its Range), and in the answer's body (the bytes after the
head's empty line) applying the faults it was given:

  flip_at=N   the body's byte N is XORed with 0xFF (a byte damaged on the way:
              the length stays right, only the MD5 can tell)
  cut_after=N the connection is closed on both sides after N body bytes (a link
              lost in mid-download); every connection whose body is longer is
              cut the same way

It judges nothing: the tests do. Python standard library only.

    with FaultProxy(srv.port, cut_after=256 * 1024) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/images/idf/2.0.0"
        ...
        assert proxy.requests[1].startswith(b"GET /images/idf/2.0.0 HTTP/1.1")
"""

import socket
import threading

from tcpproxy import HOST, TcpProxy

IO_TIMEOUT_S = 30.0


class FaultProxy(TcpProxy):
    def __init__(self, upstream_port, *, flip_at=None, cut_after=None, upstream_host=HOST):
        self.flip_at = flip_at
        self.cut_after = cut_after
        self.requests = []  # each connection's request head, in the order they came
        self.cuts = 0       # connections cut so far
        super().__init__(upstream_host, upstream_port)

    def _serve(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=IO_TIMEOUT_S)
        except OSError:
            client.close()
            return
        client.settimeout(IO_TIMEOUT_S)
        head = bytearray()
        up = threading.Thread(target=self._to_server, args=(client, server, head), daemon=True)
        up.start()
        try:
            self._to_client(server, client)
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            up.join(timeout=5)

    def _to_server(self, client, server, head):
        """The device's bytes, through unchanged; the head kept, before it goes on, so a test
        that saw the answer sees the request too."""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    server.shutdown(socket.SHUT_WR)
                    return
                if b"\r\n\r\n" not in head:
                    head += data
                    if b"\r\n\r\n" in head:
                        with self.lock:
                            self.requests.append(bytes(head[:head.find(b"\r\n\r\n") + 4]))
                server.sendall(data)
        except OSError:
            return

    def _to_client(self, server, client):
        """otad's answer, through with the faults: the head as it is, the body damaged or cut."""
        pending = bytearray()
        body_seen = None  # None until the head has ended
        while True:
            data = server.recv(65536)
            if not data:
                return
            if body_seen is None:
                pending += data
                end = pending.find(b"\r\n\r\n")
                if end < 0:
                    continue
                client.sendall(pending[:end + 4])
                data = bytes(pending[end + 4:])
                body_seen = 0
            data = bytearray(data)
            if self.flip_at is not None and body_seen <= self.flip_at < body_seen + len(data):
                data[self.flip_at - body_seen] ^= 0xFF
            if self.cut_after is not None and body_seen + len(data) > self.cut_after:
                client.sendall(data[:self.cut_after - body_seen])
                with self.lock:
                    self.cuts += 1
                return
            client.sendall(data)
            body_seen += len(data)

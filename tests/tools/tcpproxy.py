"""The listening half shared by the tests' TCP proxies (faultproxy.py, pgproxy.py).

What it owns: a listener on a free port of 127.0.0.1, a thread that accepts on
it and hands each connection to the subclass's _serve on a thread of its own,
the lock the subclass counts under, and stopping (as a context manager too).
What passes between the two sides, and how it is damaged, is the subclass's:
this base never connects upstream or reads a byte. Python standard library
only.

    class Proxy(TcpProxy):
        def _serve(self, client):
            server = socket.create_connection(self.upstream)
            ...
"""

import socket
import threading

HOST = "127.0.0.1"
STOP_JOIN_S = 5.0  # how long stop waits for the accepting thread


class TcpProxy:
    def __init__(self, upstream_host, upstream_port, *, backlog=16):
        """Listens at once; set the subclass's own state before calling this, since a
        connection may be served as soon as it returns."""
        self.upstream = (upstream_host, int(upstream_port))
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(backlog)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        """Stops accepting (safe to call twice); connections already served run out."""
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept; a close alone does not
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=STOP_JOIN_S)

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        """One accepted connection, CLIENT: the subclass's to pass on and to close."""
        raise NotImplementedError

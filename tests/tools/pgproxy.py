"""A TCP proxy between otad and PostgreSQL that can lose a COMMIT's reply, for the tests.

What it owns (the listener and its lifecycle are tcpproxy.py's): passing every
connection through to PostgreSQL byte for byte, reading the client's side as PostgreSQL's
wire protocol (a startup packet, then messages of a type byte and a length),
and, while armed, cutting a connection right after the COMMIT of a transaction
that ran a statement containing a given text (by default the registry's batch
mark, "registry_batch"): the COMMIT and its Sync reach the server, which
commits, and the client's side is closed before any reply, as when a network
drops between the two. The server's side is kept open until its reply came (so
the server has committed, not noticed a dead client first), then closed. The
client sees the connection lost during COMMIT: its outcome unknown to it.

It judges nothing: the tests do. Python standard library only.

    with PgProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for("postgresql://otad@127.0.0.1:5432/db")
        proxy.lose_commits(1)          # the next matching COMMIT's reply is lost
        wait_until(lambda: proxy.lost == 1)
"""

import re
import socket
import struct
import threading

from tcpproxy import HOST, TcpProxy

SERVER_REPLY_TIMEOUT_S = 5.0  # how long the server's side waits for the lost reply


class PgProxy(TcpProxy):
    def __init__(self, upstream_host, upstream_port, match=b"registry_batch"):
        self.match = match
        self.to_lose = 0   # matching COMMITs whose reply is still to be lost
        self.lost = 0      # replies lost so far
        self.connections = 0
        super().__init__(upstream_host, upstream_port, backlog=64)

    def url_for(self, url):
        """URL with its host and port replaced by the proxy's."""
        return re.sub(r"@[^/]+/", f"@{HOST}:{self.port}/", url, count=1)

    def lose_commits(self, n):
        """Arms the proxy: the next N COMMITs of transactions that ran a matching statement
        lose their reply (their connection is cut)."""
        with self.lock:
            self.to_lose += n

    # -- the connections

    def _serve(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=5)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            self.connections += 1
        state = {"cut": False}
        threading.Thread(target=self._client_to_server, args=(client, server, state),
                         daemon=True).start()
        self._server_to_client(server, client, state)

    def _server_to_client(self, server, client, state):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                if state["cut"]:
                    break  # the reply of the cut COMMIT: it never reaches the client
                client.sendall(data)
        except OSError:
            pass
        for s in (client, server):
            try:
                s.close()
            except OSError:
                pass

    def _client_to_server(self, client, server, state):
        buf = b""
        started = False   # past the startup packet (and an SSLRequest before it)
        matched = False   # this transaction ran a matching statement
        commit_sent = False
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                out = b""
                cut_now = False
                while True:
                    if not started:
                        if len(buf) < 4:
                            break
                        n = struct.unpack("!I", buf[:4])[0]
                        if len(buf) < n:
                            break
                        msg, buf = buf[:n], buf[n:]
                        code = struct.unpack("!I", msg[4:8])[0] if n >= 8 else 0
                        if code not in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                            started = True
                        out += msg
                        continue
                    if len(buf) < 5:
                        break
                    kind = buf[:1]
                    n = struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + n:
                        break
                    msg, buf = buf[:1 + n], buf[1 + n:]
                    out += msg
                    if self.match in msg:  # the statement's text, or a parameter (Bind)
                        matched = True
                    if kind in (b"P", b"Q"):
                        text = msg[5:]
                        if kind == b"P":
                            # Parse: a name, then the statement, NUL-terminated.
                            text = text.split(b"\0", 2)[1] if text.count(b"\0") >= 2 else text
                        stripped = text.strip(b"\0 ;").upper()
                        if stripped in (b"COMMIT", b"END"):
                            if matched:
                                with self.lock:
                                    if self.to_lose > 0:
                                        self.to_lose -= 1
                                        self.lost += 1
                                        commit_sent = True
                            matched = False
                        elif stripped in (b"ROLLBACK",):
                            matched = False
                    if commit_sent and kind in (b"S", b"Q"):
                        cut_now = True  # the COMMIT and its Sync: everything the server needs
                        break
                if cut_now:
                    # The client's side goes first: no reply reaches it. The server's reply
                    # (it commits) is read and dropped, then its side goes (_server_to_client).
                    state["cut"] = True
                    try:
                        client.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    client.close()
                    server.settimeout(SERVER_REPLY_TIMEOUT_S)
                    server.sendall(out)
                    return
                if out:
                    server.sendall(out)
        except OSError:
            pass
        try:
            server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

"""Request bodies a peer controls: a refused upload is answered before its body
is read (no credentials, no buffering; a small body already on its way is read
and dropped first, so the answer is not lost), a chunked body is refused with 411
before a byte of it is read (docs/PROTOCOL.md, "Request framing"), and a
request with two framings is refused."""

import socket

from harness import HOST, Server, assert_api_error


def send_head_and_wait(port, head, chunks=1, timeout=5):
    """Sends HEAD and a few 64 KiB chunks of a chunked body, then waits for an answer
    without sending the rest. Returns the status line, or None if none came."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(head)
        try:
            for _ in range(chunks):
                s.sendall(b"10000\r\n" + b"a" * 0x10000 + b"\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may answer and close mid-body: the answer is what counts
        data = b""
        while b"\r\n" not in data:
            part = s.recv(4096)
            if not part:
                break
            data += part
        return data.split(b"\r\n")[0].decode("latin-1") if data else None
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        return None
    finally:
        s.close()


def test_upload_without_token_is_refused_before_its_body():
    with Server() as srv:
        srv.add_product("door")
        srv.start()
        line = send_head_and_wait(srv.port, b"POST /api/v1/products/door/releases?version=1 HTTP/1.1\r\n"
                                            b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert line and " 401 " in line, f"expected 401 before the body was sent, got {line!r}"


def test_chunked_webhook_without_length_is_refused_at_once():
    with Server() as srv:
        srv.start()
        line = send_head_and_wait(srv.port, b"POST /hooks/github HTTP/1.1\r\nHost: x\r\n"
                                            b"Transfer-Encoding: chunked\r\n\r\n", chunks=0)
        assert line and " 411 " in line, f"got {line!r}"


def test_content_length_and_chunked_together_is_400():
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        r = srv.send(b"POST /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     token.encode() + b"\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n0\r\n\r\n")
        assert_api_error(r, 400, "bad_request")


def test_chunked_json_body_is_411_before_its_body():
    # It used to be read up to its route's ceiling (413 past 64 KiB); now none of it is read.
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        head = (b"POST /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        line = send_head_and_wait(srv.port, head, chunks=0)
        assert line and " 411 " in line, f"expected 411 before the body was sent, got {line!r}"
        body = b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
        r = srv.send(head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body)
        assert_api_error(r, 411, "length_required", "a 192 KiB chunked JSON body")


def test_a_small_body_refused_from_its_head_is_read_before_the_answer():
    """A refusal decided from the head of a request whose small body (a Content-Length within
    LIMIT_REFUSED_BODY_DRAIN_BYTES) is on its way waits for that body, drops it and then
    answers, the connection kept: closing on unread bytes would reset the connection and could
    destroy the answer before the client reads it (curl: "Empty reply from server")."""
    with Server() as srv:
        srv.add_product("door")
        srv.start()
        body = b"\xe9" * 200_000
        # Without a token: refused from the head alone (401).
        head = (b"POST /api/v1/products/door/releases?version=1.0.0 HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        s = socket.create_connection((HOST, srv.port), timeout=5)
        try:
            s.sendall(head + body[:1000])
            s.settimeout(0.5)
            try:
                early = s.recv(4096)
            except socket.timeout:
                early = None
            assert early is None, f"answered before the body was read: {early[:80]!r}"
            s.settimeout(5)
            s.sendall(body[1000:])
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                part = s.recv(4096)
                assert part, f"the connection closed after {data!r}"
                data += part
            assert data.startswith(b"HTTP/1.1 401 "), data[:80]
            # The connection stays usable: the next request on it is answered.
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            more = s.recv(4096)
            assert more.startswith(b"HTTP/1.1 200 "), more[:80]
        finally:
            s.close()

"""Request bodies a peer controls: a refused upload is answered before its body
is read (no credentials, no buffering), a chunked body is refused with 411
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

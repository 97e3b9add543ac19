"""A fake GitHub for the end-to-end tests, on 127.0.0.1 only.

What it owns: two HTTP servers in background threads. The API port serves
the REST endpoints otad uses, in the real API's shape (docs/reference/stock-clients.md §11):
`GET /repos/{o}/{r}/releases[?per_page=N]` (newest first; drafts only to an
authenticated caller, as GitHub shows them only to collaborators),
`GET /repos/{o}/{r}/releases/latest` (newest non-draft, non-pre-release; 404
when none), `GET /repos/{o}/{r}/releases/assets/{id}` (with
`Accept: application/octet-stream`: a 302 to the storage port, or 200 with
the bytes in `direct` mode; otherwise the asset's JSON). Every API answer
carries x-ratelimit-* headers and an ETag; a matching If-None-Match gets a
304 (which does not count against the limit when authorized, as GitHub
documents). A request without User-Agent gets 403, a wrong token 401, a
spent budget 403 with `x-ratelimit-remaining: 0`. Tests can queue forced
answers (a 5xx, a 403 with rate-limit headers) for the next requests.

The storage port serves the asset bytes at signed-looking URLs. It FAILS
any request that carries an Authorization header (and counts it in
`storage_auth_violations`): the token must never leave the API host. It can
truncate an asset (Content-Length honest, connection closed halfway), serve
the wrong number of bytes, stall halfway until a test releases it, or be
down (answer every request with `storage_status`, a 503 say, and an error
body that must never reach otad's status).

Everything is recorded (`api_requests`, `storage_requests`) so tests can
assert how many calls otad made. Python standard library only.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
STALL_TIMEOUT_S = 20.0


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def sign(secret, body):
    """X-Hub-Signature-256 for BODY (bytes) under SECRET (str or bytes)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class Request:
    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.status = None
        self.at = time.monotonic()  # when it arrived

    def __repr__(self):
        return f"{self.method} {self.path} -> {self.status}"


class FakeGitHub:
    def __init__(self, owner="acme", repo="door-fw", token=None, rate_limit=60):
        self.lock = threading.Lock()
        self.owner = owner
        self.repo = repo
        self.token = token
        self.releases = []          # newest first, as the API lists them
        self.blobs = {}             # asset id -> bytes served by storage
        self.next_id = 1000
        self.api_requests = []      # every request to the API port, in order
        self.storage_requests = []  # every request to the storage port
        self.storage_auth_violations = 0
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_reset = int(time.time()) + 3600
        self.forced = []            # [path_substring, status, headers, body, count]
        self.truncate = set()       # asset ids storage closes halfway through
        self.wrong_size = {}        # asset id -> the bytes storage serves instead
        self.stall = None           # threading.Event: storage waits on it halfway through
        self.stalled = threading.Event()
        self.direct = False         # the asset endpoint answers 200 itself, no redirect
        self.storage_status = None  # an int: storage is down and answers it to everything
        self.api = _serve(self, _ApiHandler)
        self.storage = _serve(self, _StorageHandler)

    # -- lifecycle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.stall:
            self.stall.set()
        for srv in (self.api, self.storage):
            srv.shutdown()
            srv.server_close()

    @property
    def api_url(self):
        return f"http://{HOST}:{self.api.server_address[1]}"

    @property
    def storage_url(self):
        return f"http://{HOST}:{self.storage.server_address[1]}"

    @property
    def full_name(self):
        return f"{self.owner}/{self.repo}"

    # -- content

    def add_release(self, tag, assets=(), prerelease=False, draft=False, body="", state="uploaded"):
        """Publishes a release (newest); ASSETS are (name, bytes) pairs. Returns its JSON dict."""
        with self.lock:
            rid = self._new_id()
            now = time.time()
            rel = {
                "url": f"{self.api_url}/repos/{self.full_name}/releases/{rid}",
                "assets_url": f"{self.api_url}/repos/{self.full_name}/releases/{rid}/assets",
                "upload_url": f"https://uploads.github.com/repos/{self.full_name}/releases/{rid}/assets{{?name,label}}",
                "html_url": f"https://github.com/{self.full_name}/releases/tag/{tag}",
                "id": rid,
                "author": {"login": "ci-bot", "id": 1, "type": "Bot"},
                "node_id": f"RE_kwDO{rid}",
                "tag_name": tag,
                "target_commitish": "main",
                "name": tag,
                "draft": draft,
                "prerelease": prerelease,
                "created_at": iso(now),
                "published_at": None if draft else iso(now),
                "assets": [],
                "tarball_url": f"{self.api_url}/repos/{self.full_name}/tarball/{tag}",
                "zipball_url": f"{self.api_url}/repos/{self.full_name}/zipball/{tag}",
                "body": body,
            }
            self.releases.insert(0, rel)
        for name, data in assets:
            self.add_asset(rel, name, data, state=state)
        return rel

    def add_asset(self, rel, name, data, state="uploaded"):
        with self.lock:
            aid = self._new_id()
            now = iso(time.time())
            rel["assets"].append({
                "url": f"{self.api_url}/repos/{self.full_name}/releases/assets/{aid}",
                "id": aid,
                "node_id": f"RA_kwDO{aid}",
                "name": name,
                "label": "",
                "uploader": {"login": "ci-bot", "id": 1, "type": "Bot"},
                "content_type": "application/octet-stream",
                "state": state,
                "size": len(data),
                "download_count": 0,
                "created_at": now,
                "updated_at": now,
                "browser_download_url": f"https://github.com/{self.full_name}/releases/download/{rel['tag_name']}/{name}",
            })
            self.blobs[aid] = data
            return aid

    def asset_id(self, rel, name):
        return next(a["id"] for a in rel["assets"] if a["name"] == name)

    def _new_id(self):
        self.next_id += 1
        return self.next_id

    # -- behaviour

    def force(self, status, path_contains="", headers=None, body=None, count=1):
        """The next COUNT API requests whose path contains PATH_CONTAINS get STATUS."""
        with self.lock:
            self.forced.append([path_contains, status, dict(headers or {}), body, count])

    def rate_limited_headers(self, reset_in=3600):
        """Headers of a primary rate-limit 403."""
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(self.rate_limit),
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
                "x-ratelimit-resource": "core"}

    # -- what happened

    def api_calls(self):
        with self.lock:
            return len(self.api_requests)

    def api_paths(self):
        with self.lock:
            return [r.path for r in self.api_requests]

    def release_event(self, action, rel, full_name=None):
        """A `release` webhook payload as GitHub sends it."""
        owner, _, repo = (full_name or self.full_name).partition("/")
        return {
            "action": action,
            "release": rel,
            "repository": {"id": 4242, "node_id": "R_kgDO4242", "name": repo, "full_name": f"{owner}/{repo}",
                           "private": False, "owner": {"login": owner, "id": 7, "type": "Organization"},
                           "html_url": f"https://github.com/{owner}/{repo}"},
            "sender": {"login": "ci-bot", "id": 1, "type": "Bot"},
        }


def _serve(fake, handler):
    class Handler(handler):
        pass
    Handler.fake = fake
    srv = ThreadingHTTPServer((HOST, 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", headers=None, content_type="application/json; charset=utf-8"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True


class _ApiHandler(_Handler):
    def do_GET(self):
        f = self.fake
        req = Request("GET", self.path, self.headers)
        with f.lock:
            f.api_requests.append(req)
        status, body, headers = self.answer(req)
        req.status = status
        self.send(status, body, headers)

    def rate_headers(self):
        f = self.fake
        return {"x-ratelimit-limit": str(f.rate_limit), "x-ratelimit-remaining": str(max(f.rate_remaining, 0)),
                "x-ratelimit-used": str(f.rate_limit - max(f.rate_remaining, 0)),
                "x-ratelimit-reset": str(f.rate_reset), "x-ratelimit-resource": "core",
                "X-GitHub-Api-Version-Selected": "2022-11-28"}

    def answer(self, req):
        f = self.fake
        with f.lock:
            for forced in f.forced:
                if forced[0] in req.path and forced[4] > 0:
                    forced[4] -= 1
                    headers = {**self.rate_headers(), **forced[2]}
                    body = forced[3] if forced[3] is not None else {"message": f"forced {forced[1]}"}
                    return forced[1], body, headers
        if not req.headers.get("user-agent"):
            return 403, {"message": "Request forbidden by administrative rules. Please make sure your "
                                    "request has a User-Agent header"}, {}
        auth = req.headers.get("authorization")
        authorized = False
        if auth is not None or f.token is not None:
            if f.token is None or auth not in (f"Bearer {f.token}", f"token {f.token}"):
                return 401, {"message": "Bad credentials"}, self.rate_headers()
            authorized = True
        with f.lock:
            if f.rate_remaining <= 0:
                return 403, {"message": "API rate limit exceeded for 127.0.0.1."}, self.rate_headers()
        url = urllib.parse.urlsplit(req.path)
        prefix = f"/repos/{f.owner}/{f.repo}/releases"
        status, body, extra = 404, {"message": "Not Found"}, {}
        if url.path == prefix:
            per_page = int(urllib.parse.parse_qs(url.query).get("per_page", ["30"])[0])
            with f.lock:
                rels = [r for r in f.releases if authorized or not r["draft"]][:per_page]
                status, body = 200, json.loads(json.dumps(rels))
        elif url.path == prefix + "/latest":
            with f.lock:
                rels = [r for r in f.releases if not r["draft"] and not r["prerelease"]]
                if rels:
                    status, body = 200, json.loads(json.dumps(rels[0]))
        elif url.path.startswith(prefix + "/assets/"):
            aid = int(url.path.rsplit("/", 1)[1])
            with f.lock:
                asset = next((a for r in f.releases for a in r["assets"] if a["id"] == aid), None)
            if asset is not None:
                if req.headers.get("accept") == "application/octet-stream":
                    if f.direct:
                        status, body = 200, f.blobs[aid]
                        extra = {"Content-Type": "application/octet-stream"}
                    else:
                        status, body = 302, b""
                        extra = {"Location": f"{f.storage_url}/github-production-release-asset/{aid}/"
                                             f"{asset['name']}?X-Amz-Signature=deadbeef{aid}&X-Amz-Expires=300"}
                else:
                    status, body = 200, asset
        # A conditional request whose ETag matches: 304, free when authorized.
        etag = None
        if status == 200 and not isinstance(body, bytes):
            text = json.dumps(body, sort_keys=True).encode()
            etag = '"' + hashlib.sha256(text + (auth or "").encode()).hexdigest()[:32] + '"'
            extra["ETag"] = etag
            if req.headers.get("if-none-match") == etag:
                status, body = 304, b""
        with f.lock:
            if not (status == 304 and authorized):
                f.rate_remaining -= 1
        return status, body, {**self.rate_headers(), **extra}

    def send(self, status, body=b"", headers=None, content_type="application/json; charset=utf-8"):
        headers = dict(headers or {})
        ct = headers.pop("Content-Type", content_type)
        super().send(status, body, headers, ct)


class _StorageHandler(_Handler):
    def do_GET(self):
        f = self.fake
        req = Request("GET", self.path, self.headers)
        with f.lock:
            f.storage_requests.append(req)
        if "authorization" in req.headers:
            with f.lock:
                f.storage_auth_violations += 1
            req.status = 400
            self.send(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
                           b"allowed</Message></Error>", content_type="application/xml")
            return
        if f.storage_status is not None:
            req.status = f.storage_status
            self.send(f.storage_status, b"<Error><Code>SlowDown</Code><Message>storage-internal "
                                        b"detail</Message></Error>", content_type="application/xml")
            return
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        try:
            aid = int(parts[2])
            data = f.blobs[aid]
        except (IndexError, ValueError, KeyError):
            req.status = 404
            self.send(404, b"not found", content_type="text/plain")
            return
        req.status = 200
        data = f.wrong_size.get(aid, data)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        half = len(data) // 2
        if aid in f.truncate:
            self.wfile.write(data[:half])
            self.wfile.flush()
            self.close_connection = True
            return
        if f.stall is not None:
            self.wfile.write(data[:half])
            self.wfile.flush()
            f.stalled.set()
            f.stall.wait(STALL_TIMEOUT_S)
            self.wfile.write(data[half:])
        else:
            self.wfile.write(data)
        self.close_connection = True

"""Continuous deployment from GitHub releases (issue 4), against a fake GitHub
on 127.0.0.1 (fake_github.py: an API port and a storage port). Nothing here
talks to the internet.

What is asserted: what otad ingested (versions, channels, bytes, notes) and
what it refused; exactly how many API requests it sent (GitHub counts them:
60 an hour unauthenticated); that requests are conditional (ETag) and stop
under a rate limit; that the token reaches the API and never the storage
host; that a failed download leaves nothing behind and is retried; that
devices are offered a release only once it is whole; that device check-ins
cost no GitHub request; the webhook's signature check (GitHub's test vector
is in tests/unit/sources/test_webhook.c), replay protection and unknown
repositories; status in the API and the CLI. References: docs/reference/stock-clients.md
§11 (GitHub API, webhook, rate limits)."""

import contextlib
import json
import socket
import threading
import time
import uuid

import devices
from devices import Device
from fake_github import FakeGitHub, sign
from harness import (Response, Server, assert_api_error, assert_image, assert_not_modified, assert_status,
                     http_request, make_blob, make_image, sha256_hex, wait_until)

TOKEN = "ghp_e2eTokenThatMustNeverLeakToStorage0000"
SECRET = "hook secret: it's a secret to everybody"


def firmware(seed, size=60_000):
    return make_image("esp8266", size, seed=seed, flash_size="4M").read_bytes()


@contextlib.contextmanager
def github(token=TOKEN, secret=None, source_args=(), server_args=(), start=False, env=None,
           platform="esp8266", **fake_kw):
    """A fake GitHub and an otad data dir with product 'door' watching it. Yields (gh, srv)."""
    with FakeGitHub(token=token, **fake_kw) as gh, Server(args=list(server_args), env=env) as srv:
        srv.add_product("door", platform)
        args = ["source", "add", "door", gh.full_name, "--api-url", gh.api_url]
        if token:
            path = srv.tmp / "gh-token"
            path.write_text(token + "\n")
            args += ["--token-file", str(path)]
        if secret:
            path = srv.tmp / "hook-secret"
            path.write_text(secret + "\n")
            args += ["--webhook-secret-file", str(path)]
        srv.cli_ok(*args, *source_args)
        # Tokens now: a CLI command while the server ingests would race with it (see releases()).
        srv.read_token, srv.admin_token = srv.token("read"), srv.token("admin")
        if start:
            srv.start()
        yield gh, srv


def sync(srv, *args, code=None):
    """`otad source sync --json [ARGS]`; returns the first result (and checks the exit code)."""
    r = srv.cli("source", "sync", "--json", *args)
    if code is not None:
        assert r.code == code, r.describe()
    return r.json()["results"][0]


def releases(srv):
    """The releases of 'door': through the API while the server runs, else the CLI.

    (A CLI command opens the blob store, which empties its tmp/ folder: run while the
    server writes a blob, it would pull the file from under it. Tests stay clear of that.)"""
    if srv.running():
        return srv.releases("door", srv.read_token)
    return srv.cli_ok("release", "list", "door", "--json").json()["releases"]


def status(srv, source=0):
    """Source SOURCE as `GET /api/v1/sources` (server running) or `source list --json` shows it."""
    if srv.running():
        r = srv.api("GET", "/api/v1/sources", srv.read_token)
        assert_status(r, 200, "GET /api/v1/sources")
        return r.json()["sources"][source]
    return srv.cli_ok("source", "list", "--json").json()["sources"][source]


def device(srv, version="0.0.1"):
    return devices.esp8266("/update/door", srv.port, Device(version=version, sketch_md5="0" * 32))


def blobs(srv):
    return sorted(p.name for p in (srv.data_dir / "blobs").rglob("*") if p.is_file())


def tmp_files(srv):
    d = srv.data_dir / "tmp"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def webhook(srv, gh, action, rel, *, secret=SECRET, event="release", delivery=None, full_name=None,
            form=False, headers_extra=(), tls=None):
    payload = json.dumps(gh.release_event(action, rel, full_name)).encode()
    if form:
        import urllib.parse
        body = ("payload=" + urllib.parse.quote_plus(payload.decode())).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        body, ctype = payload, "application/json"
    headers = [("User-Agent", "GitHub-Hookshot/1a2b3c4"), ("Content-Type", ctype),
               ("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery or str(uuid.uuid4())),
               ("X-GitHub-Hook-ID", "4242")]
    if secret is not None:
        headers.append(("X-Hub-Signature-256", sign(secret, body)))
    headers += list(headers_extra)
    request = http_request("POST", "/hooks/github", headers=headers, body=body)
    return srv.send_tls(request, tls) if tls else srv.send(request)


def assert_calls_stay(gh, count, seconds=1.5):
    """No API request arrives for SECONDS (the poller would act within milliseconds)."""
    time.sleep(seconds)
    assert gh.api_calls() == count, f"expected {count} API requests, got {gh.api_paths()}"


def assert_clean_requests(gh):
    """Every API request identified itself and carried the token; storage never saw it."""
    for r in gh.api_requests:
        assert r.headers.get("user-agent", "").startswith("otad/"), f"User-Agent of {r}: {r.headers}"
        assert r.headers.get("x-github-api-version") == "2022-11-28", f"API version of {r}"
        if gh.token:
            assert r.headers.get("authorization") == f"Bearer {gh.token}", f"token missing on {r}"
    for r in gh.storage_requests:
        assert "authorization" not in r.headers, f"the token went to the storage host: {r.headers}"
    assert gh.storage_auth_violations == 0


# -- Polling: what is ingested


def test_sync_ingests_the_matching_asset_not_assets_0():
    img = firmware(1)
    with github() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("README.md", b"# docs\n"), ("firmware.bin", img),
                                        ("firmware.elf", b"\x7fELF" + b"\0" * 400)],
                             body="First release.\n\n* door opens")
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"], res["failed"]) == (1, 2, False), res
        assert gh.api_paths() == ["/repos/acme/door-fw/releases?per_page=10",
                                  f"/repos/acme/door-fw/releases/assets/{gh.asset_id(rel, 'firmware.bin')}"]
        asset_req = gh.api_requests[1]
        assert asset_req.headers.get("accept") == "application/octet-stream", asset_req.headers
        assert asset_req.status == 302, "the fake answers the asset with a redirect to storage"
        assert len(gh.storage_requests) == 1 and gh.storage_requests[0].status == 200
        assert_clean_requests(gh)
        [r] = releases(srv)
        assert (r["version"], r["channel"], r["source"]) == ("1.0.0", "stable", "github"), r
        assert r["sha256"] == sha256_hex(img) and r["size"] == len(img), r
        assert r["notes"] == "First release.\n\n* door opens", r
        srv.start()
        assert_image(srv.send(device(srv)), img, "1.0.0")
        assert_not_modified(srv.send(device(srv, "1.0.0")))
        assert gh.api_calls() >= 2  # the server's own first poll may follow; devices add none


def test_second_sync_is_conditional_and_a_new_release_is_fetched():
    with github() as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(2))])
        assert sync(srv, code=0)["ingested"] == 1
        res = sync(srv, code=0)
        assert res["not_modified"] and res["api_calls"] == 1 and res["ingested"] == 0, res
        first, second = gh.api_requests[0], gh.api_requests[2]
        etag = [v for k, v in first.headers.items() if k == "if-none-match"]
        assert not etag, "the first poll has nothing to be conditional on"
        assert second.headers.get("if-none-match"), f"the second poll must send If-None-Match: {second.headers}"
        assert second.status == 304
        # An authorized 304 is free (GitHub's documentation): the budget did not move.
        assert status(srv)["status"]["rate_limit"]["remaining"] == 58
        img = firmware(3)
        gh.add_release("v1.1.0", [("firmware.bin", img)])
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"]) == (1, 2), res
        assert [r["version"] for r in releases(srv)] == ["1.1.0", "1.0.0"]
        assert gh.api_calls() == 5
        assert_clean_requests(gh)


def test_prerelease_goes_to_beta_and_a_draft_is_ignored():
    with github() as (gh, srv):
        stable, rc, draft = firmware(4), firmware(5), firmware(6)
        gh.add_release("v1.0.0", [("firmware.bin", stable)])
        gh.add_release("v1.1.0-rc.1", [("firmware.bin", rc)], prerelease=True, body="try me")
        gh.add_release("v2.0.0", [("firmware.bin", draft)], draft=True)  # listed: we are authorized
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"]) == (2, 3), res
        got = {(r["version"], r["channel"]) for r in releases(srv)}
        assert got == {("1.0.0", "stable"), ("1.1.0-rc.1", "beta")}, got
        assert len(gh.storage_requests) == 2, "the draft's asset must not be downloaded"
        # Published in release order: the older release first.
        assert [r["version"] for r in releases(srv)] == ["1.1.0-rc.1", "1.0.0"]


def test_prereleases_ignored_polls_releases_latest_unauthenticated():
    with github(token=None, source_args=["--prerelease-channel", "none"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(7))])
        gh.add_release("v1.1.0-rc.1", [("firmware.bin", firmware(8))], prerelease=True)
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"]) == (1, 2), res
        assert gh.api_paths()[0] == "/repos/acme/door-fw/releases/latest"
        assert [r["version"] for r in releases(srv)] == ["1.0.0"]
        assert sync(srv, code=0)["not_modified"]
        assert gh.api_calls() == 3
        assert all("authorization" not in r.headers for r in gh.api_requests)
        # Unauthenticated, every request counts, 304 included: 60 - 3.
        assert gh.rate_remaining == 57
        rate = status(srv)["status"]["rate_limit"]
        assert (rate["limit"], rate["remaining"]) == (60, 57) and rate["reset"], rate


def test_no_matching_asset_waits_until_it_is_uploaded():
    img = firmware(9)
    with github() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("source.zip", b"PK\3\4" + b"\0" * 100),
                                        ("firmware.bin", img)], state="new")  # upload in progress
        res = sync(srv, code=0)
        assert (res["ingested"], res["waiting"], res["failed"], res["api_calls"]) == (0, 1, False, 1), res
        assert not gh.storage_requests and releases(srv) == []
        assert sync(srv, code=0)["not_modified"], "nothing changed: a conditional request"
        rel["assets"][1]["state"] = "uploaded"
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"]) == (1, 2), res
        assert [r["version"] for r in releases(srv)] == ["1.0.0"]
        assert gh.api_calls() == 4


def assert_refused_in_status(srv, tag, reason_part):
    """A refused release shows in `source list` (JSON and text) and the API: the tag and why."""
    for st in (status(srv)["status"], srv.cli_ok("source", "list", "--json").json()["sources"][0]["status"]):
        refused = st["last_refused"]
        assert refused and refused["tag"] == tag and reason_part in refused["reason"] and refused["at"], st
        assert st["failures"] == 0, "a refusal is not a failure to poll: the backoff is not involved"
    text = srv.cli_ok("source", "list").stdout
    assert "last refused" in text and tag in text and reason_part in text, text


def test_ambiguous_assets_are_refused_once():
    with github(source_args=["--asset", "*.bin"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(10)), ("littlefs.bin", make_blob(4096).read_bytes())])
        res = sync(srv, code=1)  # the operator must see that a tag did not become a release
        assert (res["refused"], res["ingested"], res["api_calls"]) == (1, 0, 1), res
        assert "both match" in res["message"], res
        assert not gh.storage_requests and releases(srv) == []
        assert_refused_in_status(srv, "v1.0.0", "both match")
        res = sync(srv, code=0)
        assert res["not_modified"] and res["refused"] == 0, res
        assert gh.api_calls() == 2
        assert_refused_in_status(srv, "v1.0.0", "both match")  # still there after a quiet poll


def test_invalid_image_is_refused_once_and_not_retried():
    with github() as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", make_blob(50_000, seed=3).read_bytes())])
        res = sync(srv, code=1)
        assert (res["refused"], res["ingested"], res["api_calls"]) == (1, 0, 2), res
        assert "refused v1.0.0" in res["message"], res
        assert releases(srv) == [] and blobs(srv) == []
        assert_refused_in_status(srv, "v1.0.0", "ESP8266 image starts with 0xE9")
        assert sync(srv, code=0)["not_modified"]
        assert len(gh.storage_requests) == 1 and gh.api_calls() == 3


def test_a_tag_its_image_app_descriptor_contradicts_is_refused_once():
    """docs/PROTOCOL.md, "The app descriptor": no force for a source; the tag is refused for good."""
    lies = make_image("esp32", 100_000, seed=81, app_version="1.0.9", app_project="door").read_bytes()
    agrees = make_image("esp32", 100_000, seed=80, app_version="1.2.0", app_project="door").read_bytes()
    with github(platform="esp32") as (gh, srv):
        gh.add_release("v1.1.0", [("firmware.bin", lies)])
        res = sync(srv, code=1)
        assert (res["refused"], res["ingested"]) == (1, 0), res
        assert releases(srv) == []
        assert_refused_in_status(srv, "v1.1.0",
                                 'version "1.1.0" disagrees with the image\'s app descriptor, which says "1.0.9"')
        assert sync(srv, code=0)["not_modified"]
        gh.add_release("v1.2.0", [("firmware.bin", agrees)])
        res = sync(srv, code=0)
        assert (res["refused"], res["ingested"]) == (0, 1), res
        assert [(r["version"], r["app"]["version"]) for r in releases(srv)] == [("1.2.0", "1.2.0")]


def test_a_tag_that_raises_secure_version_is_refused_once():
    """docs/SECURITY.md, "Anti-rollback": a source never confirms a bump; the tag is refused for
    good with the figures, and an operator who means it publishes it with the flag."""
    bump = make_image("esp32", 100_000, seed=83, app_version="1.1.0", app_project="door",
                      secure_version=1)
    same = make_image("esp32", 100_000, seed=84, app_version="1.2.0", app_project="door",
                      secure_version=1)
    with github(platform="esp32") as (gh, srv):
        gh.add_release("v1.1.0", [("firmware.bin", bump.read_bytes())])
        res = sync(srv, code=1)
        assert (res["refused"], res["ingested"]) == (1, 0), res
        assert releases(srv) == []
        assert_refused_in_status(srv, "v1.1.0", "secure_version 0 -> 1")
        assert sync(srv, code=0)["not_modified"]
        # the operator confirms it by hand; the next tag at the same secure_version is no bump
        srv.cli_ok("release", "add", "door", str(bump), "--version", "1.1.0",
                   "--allow-secure-version-bump")
        gh.add_release("v1.2.0", [("firmware.bin", same.read_bytes())])
        res = sync(srv, code=0)
        assert (res["refused"], res["ingested"]) == (0, 1), res
        assert sorted(r["version"] for r in releases(srv)) == ["1.1.0", "1.2.0"]


def test_asset_larger_than_max_upload_is_refused_without_download():
    with github() as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(11, size=80_000))])
        r = srv.cli("--max-upload-bytes", "50000", "source", "sync", "--json")
        assert r.code == 1, r.describe()
        res = r.json()["results"][0]
        assert (res["refused"], res["api_calls"]) == (1, 1), res
        assert "max_upload_bytes" in res["message"], res
        assert not gh.storage_requests
        assert_refused_in_status(srv, "v1.0.0", "80000 bytes, more than max_upload_bytes")
        r = srv.cli("source", "sync")  # the text form says why too
        assert r.code == 0 and "unchanged" in r.stdout, r.describe()


def test_a_tag_too_long_is_refused_and_shown():
    tag = "v1.0.0-" + "x" * 130  # longer than a tag otad can keep
    with github() as (gh, srv):
        gh.add_release(tag, [("firmware.bin", firmware(33))])
        r = srv.cli("source", "sync")
        assert r.code == 1, r.describe()
        assert "refused" in r.stdout and "longer than" in r.stdout, r.describe()
        assert not gh.storage_requests and releases(srv) == []
        refused = status(srv)["status"]["last_refused"]
        assert refused["tag"] == tag[:128] and "longer than" in refused["reason"], refused
        srv.start()  # the API shows it too
        assert_refused_in_status(srv, tag[:128], "longer than")


def test_tags_that_are_not_versions_are_ingested_in_sequence():
    with github() as (gh, srv):
        nightly, build = firmware(12), firmware(13)
        gh.add_release("nightly-2024-05-01", [("firmware.bin", nightly)])
        assert sync(srv, code=0)["ingested"] == 1
        gh.add_release("build/42", [("firmware.bin", build)])
        assert sync(srv, code=0)["ingested"] == 1
        assert [r["version"] for r in releases(srv)] == ["build-42", "nightly-2024-05-01"]
        srv.start()
        # Neither is semver: the later one (by publish sequence) is the target.
        assert_image(srv.send(device(srv, "nightly-2024-05-01")), build, "build-42")
        assert_not_modified(srv.send(device(srv, "build-42")))


def test_asset_answered_directly_without_redirect():
    img = firmware(14)
    with github() as (gh, srv):
        gh.direct = True
        gh.add_release("v3.0.0", [("firmware.bin", img)])
        res = sync(srv, code=0)
        assert (res["ingested"], res["api_calls"]) == (1, 2), res
        assert not gh.storage_requests
        assert releases(srv)[0]["sha256"] == sha256_hex(img)


# -- Polling: failures, limits, backoff


def test_rate_limit_403_stops_every_request_until_reset():
    with github() as (gh, srv):
        srv.add_product("door2")
        srv.cli_ok("source", "add", "door2", gh.full_name, "--api-url", gh.api_url,
                   "--token-file", str(srv.tmp / "gh-token"))  # same credentials
        gh.add_release("v1.0.0", [("firmware.bin", firmware(15))])
        gh.force(403, headers=gh.rate_limited_headers(reset_in=3600),
                 body={"message": "API rate limit exceeded for user ID 1."})
        r = srv.cli("source", "sync", "1", "--json")
        assert r.code == 1, r.describe()
        res = r.json()["results"][0]
        assert res["failed"] and res["api_calls"] == 1 and "rate limited" in res["message"], res
        # Both sources share the token's budget: neither sends anything before the reset.
        r = srv.cli("source", "sync", "--json")
        assert r.code == 1, r.describe()
        results = r.json()["results"]
        assert [x["rate_limited"] for x in results] == [True, True], results
        assert [x["api_calls"] for x in results] == [0, 0], results
        assert gh.api_calls() == 1, gh.api_paths()
        st = status(srv)["status"]
        assert st["rate_limit"]["remaining"] == 0 and st["not_before"], st
        assert "rate limited" in st["last_error"] and st["failures"] == 1, st
        assert releases(srv) == []


def test_retry_after_is_honoured():
    with github() as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(16))])
        gh.force(429, headers={"Retry-After": "2"}, body={"message": "You have exceeded a secondary rate limit."})
        assert sync(srv, code=1)["failed"]
        res = sync(srv, code=1)
        assert res["rate_limited"] and res["api_calls"] == 0, res
        time.sleep(3.2)  # Retry-After 2 s, plus the second otad adds for clock skew
        res = sync(srv, code=0)
        assert res["ingested"] == 1, res
        assert gh.api_calls() == 3


def test_server_error_is_retried_and_leaves_nothing():
    with github() as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(17))])
        gh.force(502, body={"message": "Server Error"})
        res = sync(srv, code=1)
        assert res["failed"] and "502" in res["message"] and res["api_calls"] == 1, res
        st = status(srv)["status"]
        assert st["failures"] == 1 and "502" in st["last_error"] and st["last_error_at"], st
        assert releases(srv) == []
        res = sync(srv, code=0)
        assert res["ingested"] == 1, res
        assert status(srv)["status"]["failures"] == 0
        assert gh.api_calls() == 3


def test_truncated_or_short_download_leaves_nothing_and_is_retried():
    img = firmware(18)
    with github() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", img)])
        aid = gh.asset_id(rel, "firmware.bin")
        gh.truncate.add(aid)  # Content-Length honest, connection closed halfway
        res = sync(srv, code=1)
        assert res["failed"] and res["api_calls"] == 2, res
        assert releases(srv) == [] and blobs(srv) == [] and tmp_files(srv) == []
        gh.truncate.clear()
        gh.wrong_size[aid] = img[:-16]  # a complete answer, 16 bytes shorter than the API's size
        res = sync(srv, code=1)
        assert res["failed"] and "the API says has" in res["message"], res
        assert releases(srv) == [] and blobs(srv) == [] and tmp_files(srv) == []
        del gh.wrong_size[aid]
        res = sync(srv, code=0)  # the page was not marked done: read again, not 304
        assert res["ingested"] == 1 and res["api_calls"] == 2, res
        assert releases(srv)[0]["sha256"] == sha256_hex(img)
        assert len(blobs(srv)) >= 1
        assert gh.api_calls() == 6
        assert_clean_requests(gh)


def next_poll_in(srv):
    """Seconds from the last poll to the next one the status announces."""
    st = status(srv)["status"]
    parse = lambda t: time.mktime(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))
    return parse(st["next_poll"]) - parse(st["last_poll"])


def test_a_storage_outage_is_retried_with_backoff_until_the_tag_arrives():
    """Storage down for longer than five tries: the tag is not given up, the status says so."""
    img = firmware(19)
    with github(source_args=["--interval", "60"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", img)])
        gh.storage_status = 503
        waits = []
        for attempt in range(1, 9):
            res = sync(srv, code=1)
            assert res["failed"] and res["refused"] == 0 and res["api_calls"] == 2, (attempt, res)
            st = status(srv)["status"]
            assert st["last_error"].startswith(f"retrying tag v1.0.0 (attempt {attempt}, next in "), st
            assert st["last_error"].endswith("): storage answered 503"), st
            assert st["failures"] == attempt and st["last_refused"] is None, st
            waits.append(next_poll_in(srv))
        # Backoff: 30 s doubling, past the 60 s poll interval, capped at 30 min.
        assert all(abs(w - e) <= 1 for w, e in zip(waits, [30, 60, 120, 240, 480, 960, 1800, 1800])), waits
        assert "storage-internal detail" not in json.dumps(status(srv)), "upstream text in the status"
        gh.storage_status = None
        res = sync(srv, code=0)  # storage is back: the tag arrives
        assert res["ingested"] == 1 and not res["failed"], res
        assert releases(srv)[0]["sha256"] == sha256_hex(img)
        st = status(srv)["status"]
        assert st["failures"] == 0 and st["last_tag"] == "v1.0.0" and st["last_refused"] is None, st
        assert abs(next_poll_in(srv) - 60) <= 1, "back on the regular schedule"
        assert "(recovered since)" in srv.cli_ok("source", "list").stdout
        assert_clean_requests(gh)


def test_the_poller_backs_off_through_a_storage_outage():
    img = firmware(34)
    with github(source_args=["--interval", "1"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", img)])
        gh.storage_status = 503
        srv.start()
        wait_until(lambda: len(gh.storage_requests) >= 3, 15, 0.05, "three storage attempts")
        gh.storage_status = None
        resp = srv.wait_release_visible("door", "1.0.0", device(srv), timeout=15)
        assert_image(resp, img, "1.0.0")
        # Each sync starts with the list (read again while the tag fails): its times are the schedule.
        at = [r.at for r in gh.api_requests if "/releases?" in r.path]
        gaps = [b - a for a, b in zip(at, at[1:])]
        # A 1 s interval: retries after 1 s, 2 s, 4 s..., never at the plain interval.
        assert gaps[0] >= 0.9 and gaps[1] >= 1.8 and gaps[1] > gaps[0] + 0.5, gaps
        # The sync clears its failures once its tag is stored, just after the release shows.
        wait_until(lambda: status(srv)["status"]["failures"] == 0, 5, 0.05, "the failures cleared")


def test_api_server_errors_back_off_past_the_poll_interval():
    with github(source_args=["--interval", "60"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(35))])
        gh.force(503, count=5, body={"message": "unicorn: internal detail, token ghp_upstreamSecret"})
        waits = []
        for failure in range(1, 6):
            res = sync(srv, code=1)
            assert res["failed"] and res["api_calls"] == 1 and "503" in res["message"], res
            waits.append(next_poll_in(srv))
        assert all(abs(w - e) <= 1 for w, e in zip(waits, [30, 60, 120, 240, 480])), waits
        st = status(srv)["status"]
        assert st["failures"] == 5 and st["last_error"].startswith("the GitHub API failed: HTTP 503"), st
        res = sync(srv, code=0)
        assert res["ingested"] == 1, res
        assert status(srv)["status"]["failures"] == 0


def test_upstream_error_text_never_reaches_the_status():
    """GitHub's messages (and a storage host's) are not ours to show: read tokens see the status."""
    leak = "ghp_upstreamSecretInAnErrorMessage"
    with github(secret=SECRET) as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(36))])
        shown = []
        for forced in (502, 401, 404, 422):
            gh.force(forced, body={"message": f"{leak} {forced}", "documentation_url": leak})
            res = sync(srv, code=1)
            assert str(forced) in res["message"], res
            shown += [res["message"], json.dumps(status(srv))]
        # A redirect to a storage host that refuses: neither its URL nor curl's detail is shown.
        gh.force(302, path_contains="/assets/", headers={"Location": f"https://127.0.0.1:1/{leak}"})
        res = sync(srv, code=1)
        assert res["message"].endswith("storage: Couldn't connect to server"), res
        shown += [res["message"], json.dumps(status(srv))]
        srv.start()
        r = srv.api("GET", "/api/v1/sources", srv.read_token)
        shown += [r.text, srv.cli_ok("source", "list").stdout]
        for text in shown:
            assert leak not in text, text
        assert "X-Amz-Signature" not in r.text and "deadbeef" not in r.text


def test_token_from_environment_and_a_missing_one():
    img = firmware(20)
    with github(token=TOKEN, source_args=[]) as (gh, srv):
        srv.cli_ok("source", "remove", "1")
        srv.cli_ok("source", "add", "door", gh.full_name, "--api-url", gh.api_url, "--token-env", "GH_TOKEN")
        gh.add_release("v1.0.0", [("firmware.bin", img)])
        r = srv.cli("source", "sync", "--json")
        assert r.code == 1 and "GH_TOKEN is not set" in r.json()["results"][0]["message"], r.describe()
        assert gh.api_calls() == 0, "no request without the configured token"
        r = srv.cli("source", "sync", "--json", env={"GH_TOKEN": TOKEN})
        assert r.code == 0 and r.json()["results"][0]["ingested"] == 1, r.describe()
        assert_clean_requests(gh)


def test_a_token_file_that_cannot_be_read_is_a_failure_not_anonymous():
    """A configured token that is missing must not turn the source anonymous (60 requests an hour,
    no private repositories, drafts hidden) without a word."""
    with github(token=TOKEN, source_args=[]) as (gh, srv):
        srv.cli_ok("source", "remove", "1")
        srv.cli_ok("source", "add", "door", gh.full_name, "--api-url", gh.api_url,
                   "--token-file", str(srv.tmp / "no-such-token"))
        gh.add_release("v1.0.0", [("firmware.bin", firmware(39))])
        res = sync(srv, code=1)
        assert res["failed"] and "cannot read the token file" in res["message"], res
        assert gh.api_calls() == 0, "no request without the configured token"
        assert "cannot read the token file" in status(srv)["status"]["last_error"]


# -- The poller in `otad serve`


def test_poller_delivers_within_one_interval_and_devices_cost_no_requests():
    old, new = firmware(21), firmware(22)
    with github(source_args=["--interval", "1"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", old)])
        srv.start()
        wait_until(lambda: any(r["version"] == "1.0.0" for r in releases(srv)), 10, 0.1, "1.0.0 ingested")
        # Listed is stored; offered is once the catalog is rebuilt (a moment later, longer on
        # PostgreSQL): wait for the offer itself.
        assert_image(srv.wait_release_visible("door", "1.0.0", device(srv), timeout=10), old, "1.0.0")
        # A burst of check-ins: the GitHub traffic is the poller's schedule, not the devices'.
        before, t0 = gh.api_calls(), time.monotonic()
        for _ in range(200):
            assert_not_modified(srv.send(device(srv, "1.0.0")))
        elapsed = time.monotonic() - t0
        made = gh.api_calls() - before
        assert made <= elapsed / 1.0 + 2, f"{made} API requests during {elapsed:.1f}s of 200 check-ins"
        # Tag a release: devices see it within one poll interval (plus the download).
        gh.add_release("v1.1.0", [("firmware.bin", new)])
        resp = srv.wait_release_visible("door", "1.1.0", device(srv, "1.0.0"), timeout=10)
        assert_image(resp, new, "1.1.0")
        srv.stop()
        polls = [r for r in gh.api_requests if "/releases?" in r.path]
        assert all(r.headers.get("if-none-match") for r in polls[1:]), "every poll after the first is conditional"
        assert sum(r.status == 304 for r in polls) >= len(polls) - 3, [r.status for r in polls]
        assert_clean_requests(gh)


def test_devices_are_offered_the_release_only_once_it_is_whole():
    old, new = firmware(23), firmware(24, size=200_000)
    with github(source_args=["--interval", "1"]) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", old)])
        srv.start()
        wait_until(lambda: releases(srv), 10, 0.1, "1.0.0 ingested")
        gh.stall = threading.Event()
        gh.add_release("v1.1.0", [("firmware.bin", new)])
        assert gh.stalled.wait(10), "the poller did not start the download"
        for _ in range(5):  # half the image has arrived: nothing is offered yet
            assert_not_modified(srv.send(device(srv, "1.0.0")), "a release is offered half downloaded")
            time.sleep(0.1)
        assert [r["version"] for r in releases(srv)] == ["1.0.0"]
        gh.stall.set()
        resp = srv.wait_release_visible("door", "1.1.0", device(srv, "1.0.0"), timeout=10)
        assert_image(resp, new, "1.1.0")


# -- The webhook


@contextlib.contextmanager
def hooked(**kw):
    """A running server whose poller polls hourly: only webhooks make it fetch. Yields (gh, srv)."""
    with github(secret=SECRET, source_args=["--interval", "3600"], start=True, **kw) as (gh, srv):
        wait_until(lambda: gh.api_calls() >= 1, 10, 0.05, "the poller's first poll")
        wait_until(lambda: status(srv)["status"]["last_poll"], 5, 0.05, "the first poll recorded")
        yield gh, srv


def test_webhook_valid_signature_fetches_in_the_background():
    img = firmware(25)
    with hooked() as (gh, srv):
        assert gh.api_calls() == 1
        rel = gh.add_release("v1.0.0", [("firmware.bin", img)], body="via webhook")
        r = webhook(srv, gh, "published", rel)
        assert_status(r, 202, "a valid delivery")
        assert r.json()["status"] == "queued", r.describe()
        resp = srv.wait_release_visible("door", "1.0.0", device(srv), timeout=10)
        assert_image(resp, img, "1.0.0")
        assert releases(srv)[0]["notes"] == "via webhook"
        assert gh.api_calls() == 3  # the first poll, the list, the asset
        # GitHub sends `released` too for the same release: idempotent, one conditional request.
        r = webhook(srv, gh, "released", rel)
        assert_status(r, 202)
        wait_until(lambda: gh.api_calls() == 4, 5, 0.05, "the second delivery's poll")
        assert gh.api_requests[-1].status == 304
        assert_calls_stay(gh, 4)
        assert len(releases(srv)) == 1
        assert_clean_requests(gh)


def test_webhook_over_tls_when_the_api_is_kept_off_plain_http():
    import tlsutil
    img = firmware(26)
    with github(secret=SECRET, source_args=["--interval", "3600"],
                server_args=["--listen-tls", "127.0.0.1:0", "--api-tls-only", "1"]) as (gh, srv):
        ca = tlsutil.make_ca(srv.tmp / "ca")
        tlsutil.install_default(srv.data_dir, ca, rsa=False)
        srv.start()
        wait_until(lambda: gh.api_calls() >= 1, 10, 0.05, "the poller's first poll")
        rel = gh.add_release("v1.0.0", [("firmware.bin", img)])
        r = webhook(srv, gh, "published", rel)
        assert_status(r, 403, "a delivery over plain HTTP")
        assert r.json()["error"]["code"] == "tls_required", r.describe()
        r = webhook(srv, gh, "published", rel, tls=tlsutil.context(ca[0]))
        assert_status(r, 202, "a delivery over HTTPS")
        resp = srv.wait_release_visible("door", "1.0.0", device(srv), timeout=10)
        assert_image(resp, img, "1.0.0")


def test_webhook_invalid_signature_is_401_and_logged():
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(26))])
        r = webhook(srv, gh, "published", rel, secret="not the secret")
        assert_api_error(r, 401, "unauthorized", "a wrong signature")
        r = webhook(srv, gh, "published", rel, secret=None)
        assert_api_error(r, 401, "unauthorized", "no signature")
        # The signature covers the raw body: a changed byte is a different body.
        payload = json.dumps(gh.release_event("published", rel)).encode()
        headers = [("Content-Type", "application/json"), ("X-GitHub-Event", "release"),
                   ("X-GitHub-Delivery", str(uuid.uuid4())),
                   ("X-Hub-Signature-256", sign(SECRET, payload))]
        r = srv.send(http_request("POST", "/hooks/github", headers=headers, body=payload + b" "))
        assert_api_error(r, 401, "unauthorized", "a body that differs from the signed one")
        assert_calls_stay(gh, 1)
        log = srv.log()
        assert log.count("refused") >= 3 and "127.0.0.1" in log, "bad deliveries must be logged with the peer"
        assert SECRET not in log and TOKEN not in log
        assert releases(srv) == []


def test_webhook_replay_of_a_delivery_does_nothing():
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(27))])
        guid = str(uuid.uuid4())
        assert_status(webhook(srv, gh, "published", rel, delivery=guid), 202)
        wait_until(lambda: releases(srv), 10, 0.1, "the release")
        calls = gh.api_calls()
        r = webhook(srv, gh, "published", rel, delivery=guid)
        assert_status(r, 200, "a replayed delivery")
        assert r.json()["status"] == "duplicate", r.describe()
        # The id is not signed: the same signed body under a new id is a replay too.
        r = webhook(srv, gh, "published", rel, delivery=str(uuid.uuid4()))
        assert_status(r, 200, "a captured body re-sent under a new delivery id")
        assert r.json()["status"] == "duplicate", r.describe()
        assert_calls_stay(gh, calls)


def test_webhook_for_an_unknown_repository_or_event_is_ignored():
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(28))])
        r = webhook(srv, gh, "published", rel, full_name="acme/other-repo")
        assert_status(r, 200, "another repository")
        assert r.json()["status"] == "ignored" and "acme/other-repo" in r.json()["message"], r.describe()
        for action in ("created", "edited", "deleted"):
            r = webhook(srv, gh, action, rel)
            assert_status(r, 200, action)
            assert r.json()["status"] == "ignored", r.describe()
        draft = gh.add_release("v9.9.9", [("firmware.bin", firmware(29))], draft=True)
        assert webhook(srv, gh, "published", draft).json()["status"] == "ignored"
        r = webhook(srv, gh, "published", rel, event="push")
        assert_status(r, 200, "a push event")
        assert r.json()["status"] == "ignored", r.describe()
        r = webhook(srv, gh, "published", rel, event="ping")
        assert r.json()["status"] == "pong", r.describe()
        assert_calls_stay(gh, 1)
        assert releases(srv) == []


def test_webhook_form_encoded_and_limits():
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(30))])
        r = webhook(srv, gh, "released", rel, form=True)
        assert_status(r, 202, "a form-encoded delivery")
        wait_until(lambda: releases(srv), 10, 0.1, "the release")
        # Decided on the headers, before a byte is buffered: a size beyond the limit (even
        # correctly signed; the server discards the body it reads), no length at all.
        big = b"{" + b" " * (1 << 20) + b"}"
        head = http_request("POST", "/hooks/github", body=big,
                            headers=[("X-GitHub-Event", "release"), ("X-Hub-Signature-256", sign(SECRET, big))])
        assert_api_error(srv.send(head), 413, "too_large", "a delivery of 1 MiB + 2 bytes")
        chunked = http_request("POST", "/hooks/github",
                               headers=[("Transfer-Encoding", "chunked"), ("X-GitHub-Event", "release")])
        assert_status(srv.send(chunked + b"5\r\nhello\r\n0\r\n\r\n"), 411, "a delivery without a length")
        r = srv.get("/hooks/github")
        assert_status(r, 405, "GET")


MIB = 1 << 20
IN_FLIGHT_BODIES = 8  # LIMIT_WEBHOOK_BYTES_IN_FLIGHT / LIMIT_WEBHOOK_BODY_BYTES


def rss_kib(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def delivery_head(length):
    """The head of an unsigned delivery declaring LENGTH bytes, asking for 100-continue."""
    return http_request("POST", "/hooks/github", headers=[
        ("X-GitHub-Event", "release"), ("X-GitHub-Delivery", str(uuid.uuid4())),
        ("Content-Type", "application/json"), ("Content-Length", str(length)),
        ("Expect", "100-continue")])


def open_delivery(srv, length=MIB):
    """Sends a delivery's head; returns (socket, the server's first answer: 100 or a refusal)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(delivery_head(length))
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return s, buf


def test_webhook_bodies_in_flight_are_bounded():
    """Unauthenticated bodies are read before their HMAC is checked: only so many at once."""
    with hooked() as (gh, srv):
        before = rss_kib(srv)
        held = []
        for i in range(IN_FLIGHT_BODIES):
            s, head = open_delivery(srv)
            assert head.startswith(b"HTTP/1.1 100"), (i, head)
            s.sendall(b" " * (MIB - 1))  # all but the last byte: the server holds it
            held.append(s)
        # Past the bound: 503 with Retry-After, answered on the head, before any of the body.
        for i in range(100):
            s, head = open_delivery(srv)
            s.close()
            r = Response(head, closed=True)
            assert r.status == 503 and r.header("Retry-After") == "10", (i, head)
        r = srv.send(http_request("POST", "/hooks/github", headers=[("X-GitHub-Event", "release")],
                                  body=b"x" * 100))
        assert_api_error(r, 503, "busy", "a small delivery when the bound is reached")
        grown_mib = (rss_kib(srv) - before) / 1024
        assert grown_mib < 8 * IN_FLIGHT_BODIES, f"the daemon grew by {grown_mib:.0f} MiB"
        # One ends (the peer gives up): its share is free again, and a real delivery gets in.
        held.pop().close()
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(37))])
        wait_until(lambda: webhook(srv, gh, "published", rel).status == 202, 5, 0.05,
                   "a delivery admitted once a held body is gone")
        for s in held:
            s.close()
        wait_until(lambda: releases(srv), 10, 0.1, "the release")
        log = srv.log()
        assert log.count("refusing more (503)") == 1, "logged once per episode, not per delivery"


def test_webhook_secret_is_reread_when_its_file_changes():
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [("firmware.bin", firmware(38))])
        assert_status(webhook(srv, gh, "created", rel), 200, "signed with the secret")
        (srv.tmp / "hook-secret").write_text("a new secret\n")  # rotated without a restart
        assert_api_error(webhook(srv, gh, "published", rel), 401, "unauthorized", "the old secret")
        assert_status(webhook(srv, gh, "published", rel, secret="a new secret"), 202, "the new one")
        wait_until(lambda: releases(srv), 10, 0.1, "the release")
        (srv.tmp / "hook-secret").unlink()
        assert_api_error(webhook(srv, gh, "released", rel, secret="a new secret"), 401,
                         "unauthorized", "no secret file any more")
        assert srv.log().count("cannot read the webhook secret file") == 1
        assert "a new secret" not in srv.log()


def test_webhook_before_the_asset_is_uploaded_requeries():
    img = firmware(31)
    with hooked() as (gh, srv):
        rel = gh.add_release("v1.0.0", [])  # CI created the release; the upload comes later
        assert_status(webhook(srv, gh, "published", rel), 202)
        wait_until(lambda: gh.api_calls() >= 2, 5, 0.05, "the delivery's poll")
        time.sleep(1.0)
        gh.add_asset(rel, "firmware.bin", img)
        resp = srv.wait_release_visible("door", "1.0.0", device(srv), timeout=20)
        assert_image(resp, img, "1.0.0")
        # The re-queries are few and spaced (2 s, 4 s, ...), not a loop.
        assert gh.api_calls() <= 6, gh.api_paths()


# -- Status in the API and the CLI


def test_status_in_the_api_and_the_cli_and_no_token_anywhere():
    with github(secret=SECRET, source_args=["--interval", "3600"], start=True) as (gh, srv):
        gh.add_release("v1.0.0", [("firmware.bin", firmware(32))])
        read, admin = srv.read_token, srv.admin_token
        r = srv.api("POST", "/api/v1/sources/1/sync", admin)
        assert_status(r, 202, "sync request")
        wait_until(lambda: releases(srv), 10, 0.1, "the release")
        wait_until(lambda: status(srv)["status"]["last_change"], 5, 0.05, "the status")
        r = srv.api("GET", "/api/v1/sources", read)
        assert_status(r, 200)
        [src] = r.json()["sources"]
        assert (src["id"], src["product"], src["repository"], src["kind"]) == (1, "door", "acme/door-fw", "github")
        assert src["asset"] == "firmware*.bin" and src["prerelease_channel"] == "beta", src
        assert src["poll_interval_s"] == 3600 and src["api_url"] == gh.api_url, src
        st = src["status"]
        assert st["last_poll"] and st["last_change"] and st["last_tag"] == "v1.0.0", st
        assert st["last_error"] is None and st["failures"] == 0, st
        assert st["rate_limit"]["limit"] == 60 and st["rate_limit"]["remaining"] == gh.rate_remaining, st
        assert st["api_calls"] == gh.api_calls(), (st, gh.api_paths())
        cli_src = srv.cli_ok("source", "list", "--json").json()["sources"][0]
        assert {k: v for k, v in cli_src.items() if k != "status"} == \
            {k: v for k, v in src.items() if k != "status"}, "the API and the CLI show one shape"
        assert cli_src["status"]["last_tag"] == "v1.0.0" and cli_src["status"]["api_calls"] == st["api_calls"]
        r1 = srv.api("GET", "/api/v1/sources/1", read)
        assert_status(r1, 200)
        assert r1.json()["source"]["repository"] == "acme/door-fw"
        text = srv.cli_ok("source", "list").stdout
        assert "acme/door-fw" in text and "last poll" in text and "rate limit" in text, text
        # Refusals.
        assert_status(srv.api("GET", "/api/v1/sources"), 401)
        assert_api_error(srv.api("POST", "/api/v1/sources/1/sync", read), 403, "forbidden")
        assert_api_error(srv.api("POST", "/api/v1/sources/9/sync", admin), 404, "not_found")
        assert_api_error(srv.api("GET", "/api/v1/sources/x", read), 404, "not_found")
        # The token and the secret appear nowhere: API, CLI, log.
        for text in (r.text, r1.text, srv.cli_ok("source", "list", "--json").stdout, srv.cli_ok("source", "list").stdout,
                     srv.log()):
            assert TOKEN not in text and SECRET not in text

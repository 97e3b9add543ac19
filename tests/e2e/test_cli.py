"""The command line on a data dir: `config dump` reflecting flags, environment
and config file; exit statuses (0 ok, 1 refused, 2 usage); products,
releases and tokens through the CLI; `serve` failing cleanly when it
cannot listen."""

import re
import tempfile
from pathlib import Path

from harness import Server, json_list, make_image, run_otad

DUMP_KEYS = ["listen", "data_dir", "log_level", "threads", "max_upload_bytes", "connection_timeout_s",
             "connection_memory", "max_connections", "registry_flush_ms", "aliases"]


def parse_dump(text):
    """`config dump` output -> {key: value}; asserts the [otad] section comes first."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith((";", "#"))]
    assert lines and lines[0] == "[otad]", f"config dump must start with [otad]: {text!r}"
    values = {}
    for line in lines[1:]:
        m = re.match(r"^([a-z_]+)\s*=\s*(.*)$", line)
        assert m, f"config dump line is not 'key = value': {line!r}"
        values[m.group(1)] = m.group(2).strip().strip('"')
    return values


def dump(args=(), env=None):
    r = run_otad(list(args) + ["config", "dump"], env=env)
    assert r.code == 0, r.describe()
    return parse_dump(r.stdout)


def test_config_dump_lists_every_setting():
    with tempfile.TemporaryDirectory() as d:
        values = dump(["--data-dir", d])
        missing = [k for k in DUMP_KEYS if k not in values]
        assert not missing, f"config dump lacks {missing}: {values}"
        assert values["data_dir"] == d, f"data_dir {values['data_dir']!r} != {d!r}"


def test_config_dump_reflects_flags():
    with tempfile.TemporaryDirectory() as d:
        values = dump(["--data-dir", d, "--listen", "127.0.0.1:9999", "--max-upload-bytes", "123456",
                       "--log-level", "debug", "--threads", "3", "--aliases", "/esp/firmware.php=emonesp"])
        got = {k: values.get(k) for k in ("listen", "max_upload_bytes", "log_level", "threads")}
        assert got == {"listen": "127.0.0.1:9999", "max_upload_bytes": "123456", "log_level": "debug",
                       "threads": "3"}, f"flags not reflected: {got}"
        assert "/esp/firmware.php=emonesp" in values.get("aliases", ""), f"aliases: {values.get('aliases')!r}"


def test_config_dump_reflects_environment():
    with tempfile.TemporaryDirectory() as d:
        values = dump(env={"OTAD_DATA_DIR": d, "OTAD_LISTEN": "127.0.0.1:7777", "OTAD_MAX_UPLOAD_BYTES": "654321",
                           "OTAD_REGISTRY_FLUSH_MS": "500", "OTAD_ALIASES": "/fw.php=door"})
        got = {k: values.get(k) for k in ("data_dir", "listen", "max_upload_bytes", "registry_flush_ms")}
        assert got == {"data_dir": d, "listen": "127.0.0.1:7777", "max_upload_bytes": "654321",
                       "registry_flush_ms": "500"}, f"environment not reflected: {got}"
        assert "/fw.php=door" in values.get("aliases", ""), f"aliases: {values.get('aliases')!r}"


def test_flags_override_environment():
    with tempfile.TemporaryDirectory() as d:
        values = dump(["--data-dir", d, "--max-upload-bytes", "2000"], env={"OTAD_MAX_UPLOAD_BYTES": "1000"})
        assert values["max_upload_bytes"] == "2000", f"flag vs env: {values['max_upload_bytes']}"


def test_config_file_is_read_and_dump_round_trips():
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d) / "otad.conf"
        conf.write_text(f"[otad]\ndata_dir = {d}\nlisten = 127.0.0.1:8123\nthreads = 2\n")
        first = run_otad(["--config", str(conf), "config", "dump"])
        assert first.code == 0, first.describe()
        values = parse_dump(first.stdout)
        assert (values["listen"], values["threads"], values["data_dir"]) == ("127.0.0.1:8123", "2", d), values
        again = Path(d) / "dumped.conf"
        again.write_text(first.stdout)
        second = run_otad(["--config", str(again), "config", "dump"])
        assert second.code == 0 and parse_dump(second.stdout) == values, \
            f"feeding the dump back as --config changed it: {second.describe()}"


def test_usage_errors_exit_2():
    with tempfile.TemporaryDirectory() as d:
        for args in (["frobnicate"], ["--no-such-flag", "config", "dump"], ["--threads", "lots", "config", "dump"],
                     ["product", "add"], ["release", "add", "door"]):
            r = run_otad(["--data-dir", d] + args)
            assert r.code == 2, f"usage error must exit 2: {r.describe()}"


def test_product_cli_add_list_and_duplicate():
    with Server() as srv:
        srv.add_product("emonesp", "esp8266")
        srv.add_product("door32", "esp32", default_channel="beta")
        listed = {p["name"]: p for p in json_list(srv.cli_ok("product", "list", "--json").json(), "products")}
        assert set(listed) == {"emonesp", "door32"}, f"product list --json: {listed}"
        assert (listed["door32"]["platform"], listed["door32"]["default_channel"]) == ("esp32", "beta"), listed
        dup = srv.cli("product", "add", "emonesp", "--platform", "esp8266")
        assert dup.code == 1, f"adding an existing product must exit 1: {dup.describe()}"


def test_product_cli_rejects_bad_names():
    with Server() as srv:
        for name in ("Door", "-door", "a" * 65, "door/x"):
            r = srv.cli("product", "add", name, "--platform", "esp8266")
            assert r.code in (1, 2), f"bad name {name!r} accepted: {r.describe()}"
        assert json_list(srv.cli_ok("product", "list", "--json").json(), "products") == [], "a bad name was stored"


def test_release_cli_add_and_list():
    with Server() as srv:
        srv.add_product("door", "esp8266")
        for i, version in enumerate(("1.0.0", "1.1.0")):
            srv.add_release("door", make_image("esp8266", 64_000, seed=80 + i), version, notes="n")
        rels = json_list(srv.cli_ok("release", "list", "door", "--json").json(), "releases")
        assert [r["version"] for r in rels] == ["1.1.0", "1.0.0"], f"release list --json newest first: {rels}"
        unknown = srv.cli("release", "add", "nosuch", str(make_image("esp8266", 64_000, seed=80)), "--version", "1")
        assert unknown.code == 1, f"release add to an unknown product must exit 1: {unknown.describe()}"


def test_token_create_prints_only_the_token():
    with Server() as srv:
        tokens = {srv.token(scope) for scope in ("read", "publish", "admin")}
        assert len(tokens) == 3, "tokens are not unique"
        listed = srv.cli_ok("token", "list", "--json")
        for t in tokens:
            assert t not in listed.stdout, "token list shows a secret"
        assert len(json_list(listed.json(), "tokens")) == 3, listed.describe()
        bad = srv.cli("token", "create", "--scope", "root")
        assert bad.code == 2, f"unknown scope must be a usage error: {bad.describe()}"


def test_serve_fails_cleanly_when_port_taken():
    with Server() as first, Server() as second:
        first.start()
        r = run_otad(second.base_args() + ["--listen", f"127.0.0.1:{first.port}", "serve"], timeout=10)
        assert r.code == 1, f"serve on a taken port must exit 1: {r.describe()}"


def test_refusals_exit_1():
    with Server() as srv:
        srv.add_product("door", "esp8266")
        for args in (["token", "revoke", "99999"], ["device", "list", "nosuch", "--json"],
                     ["release", "list", "nosuch", "--json"]):
            r = srv.cli(*args)
            assert r.code == 1, f"must exit 1: {r.describe()}"

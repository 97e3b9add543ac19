"""The manual pages and the bash completion held to the tables they come from.

Every subcommand `otad --help` lists has its section in otad(8), and that
section, rendered by groff, reads word for word as `otad SUBCOMMAND --help`;
every setting `otad config markdown` lists is in otad.ini(5) with its range,
default, flag, variable and meaning; the completion, loaded into bash and
called as bash calls it (COMP_WORDS, COMP_CWORD, COMPREPLY), offers the
subcommands, each synopsis line's verbs and options, the options' values
and the settings' flags. The man pages are the generator's output here; the
style stage of tests/run checks the committed copies equal it."""

import os
import re
import shlex
import subprocess
import tempfile

from harness import run_otad


def ok(args):
    r = run_otad(args)
    assert r.code == 0, r.describe()
    return r.stdout


def subcommands():
    """The subcommand names in `otad --help`, in its order."""
    text = ok(["--help"])
    block = text.split("Subcommands:\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in block.splitlines() if line.strip()]
    assert len(names) >= 20 and "serve" in names and "manual" in names, f"otad --help: {names}"
    return names


def settings():
    """Rows of `otad config markdown`: (key, flag, env, default, range, meaning)."""
    rows = []
    for line in ok(["config", "markdown"]).splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 6, f"not a settings row: {line!r}"
        rows.append(tuple(c.strip("`") if i < 4 else c for i, c in enumerate(cells)))
    assert len(rows) >= 30, f"otad config markdown has {len(rows)} rows"
    return rows


def render(page):
    """PAGE (roff) as groff's plain text: wide lines, no hyphenation, no bold or underline."""
    with tempfile.NamedTemporaryFile("w", suffix=".man", delete=False) as f:
        f.write(page)
    try:
        r = subprocess.run(["groff", "-man", "-Tutf8", "-rLL=250n", "-rHY=0", "-P-c", "-P-b",
                            "-P-o", "-P-u", f.name], capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    return r.stdout


def sections(rendered):
    """{heading: [lines]} for .SH headings (column 0) and, inside them, "SH/SS" for .SS ones."""
    out, current, top = {}, None, None
    for line in rendered.splitlines()[1:-1]:  # the header and footer lines
        if re.match(r"^\S", line):
            top = current = line.strip()
        elif re.match(r"^   \S", line):
            current = f"{top}/{line.strip()}"
        else:
            out.setdefault(current, []).append(line)
            continue
        out.setdefault(current, [])
    return out


def words(text):
    return " ".join(text.split())


def test_every_subcommand_has_its_section_reading_as_its_help():
    names = subcommands()
    page = sections(render(ok(["manual", "otad.8"])))
    listed = [k.split("/", 1)[1] for k in page if k and k.startswith("SUBCOMMANDS/")]
    assert listed == names, f"otad(8)'s subcommands {listed} are not otad --help's {names}"
    for name in names:
        help_text = ok([name, "--help"])
        assert help_text.startswith(f"usage: otad {name}"), f"otad {name} --help: {help_text!r}"
        assert ok(["help", name]) == help_text, f"otad help {name} differs from otad {name} --help"
        description = help_text.split("\n\n", 1)[1] if "\n\n" in help_text else ""
        assert len(description.split()) >= 10, f"otad {name} --help describes nothing: {help_text!r}"
        section = "\n".join(page[f"SUBCOMMANDS/{name}"])
        assert words(help_text[len("usage:"):]) == words(section), (
            f"otad {name} --help and its otad(8) section differ:\n{help_text}\n---\n{section}")
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SETTINGS", "ENVIRONMENT", "SIGNALS",
                    "FILES", "EXIT STATUS", "SEE ALSO"):
        assert heading in page, f"otad(8) has no {heading} section: {list(page)}"
    environment = words("\n".join(page["ENVIRONMENT"]))
    assert "OTAD_CONFIG" in environment and "OTAD_NAME" in environment, environment
    signals = words("\n".join(page["SIGNALS"]))
    assert "SIGHUP" in signals and "SIGTERM" in signals, signals
    statuses = [line.split()[0] for line in page["EXIT STATUS"] if re.match(r"^ {7}\d", line)]
    assert statuses == ["0", "1", "2"], f"otad(8)'s exit statuses: {statuses}"
    assert "otad.ini(5)" in words("\n".join(page["SEE ALSO"]))


def test_a_wrong_command_line_prints_the_synopsis_of_its_help():
    with tempfile.TemporaryDirectory() as d:
        for args in (["product"], ["token", "frobnicate"], ["rollout"], ["tls"], ["key"],
                     ["migrate"], ["store"], ["serve", "now"], ["audit", "list", "--outcome"],
                     ["manual", "otad.1"], ["channel", "set", "door"]):
            r = run_otad(["--data-dir", d] + args)
            assert r.code == 2, f"a usage error must exit 2: {r.describe()}"
            synopsis = ok([args[0], "--help"]).split("\n\n", 1)[0]
            assert synopsis in r.stderr, f"otad {' '.join(args)} printed no synopsis: {r.describe()}"


def test_every_setting_is_in_otad_ini_5():
    page = sections(render(ok(["manual", "otad.ini.5"])))
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "FORMAT", "SETTINGS", "SEE ALSO"):
        assert heading in page, f"otad.ini(5) has no {heading} section: {list(page)}"
    fmt = words("\n".join(page["FORMAT"] + page["DESCRIPTION"]))
    assert "[otad]" in fmt and "key = value" in fmt and "OTAD_CONFIG" in fmt, fmt
    entries = {}
    for line in page["SETTINGS"]:
        if re.match(r"^ {7}\S", line):
            key = line.split()[0]
            entries[key] = [line.strip()[len(key):]]
        elif line.strip():
            entries[key].append(line)
    rows = settings()
    assert list(entries) == [r[0] for r in rows], (
        f"otad.ini(5)'s settings {list(entries)} are not the table's {[r[0] for r in rows]}")
    for key, flag, env, default, span, meaning in rows:
        text = words("\n".join(entries[key]))
        expected = [f"Flag: {flag}.", f"Environment: {env}.",
                    f"Default: {default}." if default else "Default: empty.", words(meaning)]
        if span:
            low, high = span.split("–")
            expected.append(f"A whole number from {low} to {high}.")
        else:
            expected.append("A string.")
        for part in expected:
            assert part in text, f"otad.ini(5) on {key} lacks {part!r}: {text!r}"


def synopsis_forms(name):
    """(verb words, options) of each synopsis line of `otad NAME --help`."""
    forms = []
    for line in ok([name, "--help"]).split("\n\n", 1)[0].splitlines():
        m = re.match(r"^(?:usage:| {6}) otad (\S+)(.*)$", line)
        if m:
            assert m.group(1) == name, line
            rest = m.group(2).split()
            verbs = []
            while rest and re.match(r"^[a-z][a-z0-9.|-]*$", rest[0]):
                verbs.append(rest.pop(0))
            forms.append((verbs, []))
            line = " ".join(rest)
        forms[-1][1].extend(re.findall(r"(?<![\w-])--[a-z0-9-]+", line))
    return forms


def complete(script, cwd, cases):
    """COMPREPLY for each list of words in CASES (the last is the word being completed)."""
    lines = [f"source {shlex.quote(script)}", "complete -p otad", "echo ---",
             'ask() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); '
             '_otad; printf "%s\\n" "${COMPREPLY[@]}"; echo ---; }']
    lines += ["ask " + " ".join(shlex.quote(w) for w in case) for case in cases]
    r = subprocess.run(["bash", "--norc", "--noprofile"], input="\n".join(lines) + "\n", cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, f"bash: {r.returncode} {r.stderr}"
    blocks = r.stdout.split("---\n")
    assert blocks[0].strip() == "complete -F _otad otad", f"complete -p otad: {blocks[0]!r}"
    replies = [set(b.split("\n")) - {""} for b in blocks[1:-1]]
    assert len(replies) == len(cases), f"{len(replies)} answers to {len(cases)} questions"
    return replies


def test_bash_completion_offers_subcommands_verbs_options_and_settings():
    names = subcommands()
    flags = {row[1] for row in settings()} | {"--config"}
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "otad")
        with open(script, "w") as f:
            f.write(ok(["manual", "completion"]))
        cwd = os.path.join(d, "cwd")
        os.mkdir(cwd)
        open(os.path.join(cwd, "fw.bin"), "w").close()
        cases, expected = [], []

        def expect(words_, wanted, exact=False):
            cases.append(["otad"] + words_)
            expected.append((words_, set(wanted), exact))

        expect([""], names + ["help"], exact=True)
        expect(["--"], flags | {"--help", "--version"}, exact=True)
        expect(["--data-dir", "/tmp", "rel"], ["release"], exact=True)
        expect(["--log-level", ""], ["error", "warn", "info", "debug"], exact=True)
        expect(["tls", "ca", ""], ["init"], exact=True)
        expect(["product", "add", "door", "--pl"], ["--platform"], exact=True)
        expect(["product", "add", "door", "--platform", ""], ["esp8266", "esp32"], exact=True)
        expect(["rollout", "start", "door", "1.0", "--count-silent", ""], ["yes", "no"], exact=True)
        expect(["sign", "--format", ""], ["esp8266", "esp8266-legacy", "esp32", "secure-boot"],
               exact=True)
        expect(["release", "add", "door", ""], ["fw.bin"], exact=True)
        expect(["product", "add", "door", ""], [], exact=True)
        for name in names:
            expect([name[:2]], [name])
            forms = synopsis_forms(name)
            first = {alt for verbs, _ in forms if verbs for alt in verbs[0].split("|")}
            if first:
                expect([name, ""], first, exact=True)
            for verbs, options in forms:
                typed = [v.split("|")[0] for v in verbs]
                expect([name] + typed + ["--"], set(options) | flags)
        replies = complete(script, cwd, cases)
        for (words_, wanted, exact), got in zip(expected, replies):
            if exact:
                assert got == wanted, f"otad {' '.join(words_)}<TAB>: {sorted(got)} != {sorted(wanted)}"
            else:
                assert wanted <= got, f"otad {' '.join(words_)}<TAB> lacks {sorted(wanted - got)}"

"""test_cli_docs.py - the command line, its documentation and the shipped files agree.

- `profgate --help` names the commands; each command's --help names its flags; the
  top-level usage names every command's flags (plus --help/--version).
- The man page (docs/profgate.1.in, built into $PG_BUILD/packaging/profgate.1) has one
  COMMANDS subsection per command whose flags are exactly that command's --help flags, the
  same flags in its SYNOPSIS, and groff formats it without a warning.
- The bash completion (packaging/profgate.bash-completion), run in bash, offers exactly
  the commands and, per command, exactly the flags of --help; it completes flag values.
- docs/cli.md mentions every command and flag.
- `profgate version` has the shape of `prometheus --version` and names every library;
  `--version` prints the same.
- The default config (packaging/profgate.yml.in as built) passes `profgate check`.
- The Kubernetes examples name the image that docs/install.md builds, at this version.
- docs/install.md covers the package, the container and a build from source, and the
  README links it."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402

SRC, BUILD = pgtest.SRC, pgtest.BUILD
FLAG = re.compile(r"--[a-z][a-z0-9.-]*[a-z0-9]")
# commands that parse flags (and --help)
WITH_FLAGS = ("run", "check", "check-web-config", "targets")


def pg(*args):
    p = subprocess.run([pgtest.PROFGATE, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def help_commands():
    rc, out, _ = pg("--help")
    body = out.split("commands:", 1)[1]
    return rc, out, [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\b", body, re.M)]


def help_flags(cmd):
    """Flags of `profgate CMD --help`, without --help itself."""
    rc, out, err = pg(cmd, "--help")
    assert rc == 0, (cmd, rc, err)
    return set(FLAG.findall(out)) - {"--help"}


def roff_text(s):
    s = re.sub(r"\\f[BIRP]", "", s)
    return s.replace("\\-", "-").replace("\\%", "").replace("\\&", "")


def man_page(t):
    path = os.path.join(BUILD, "packaging", "profgate.1")
    t.require(os.path.exists(path), "built man page %s missing (target pg_manpage)" % path)
    with open(path) as f:
        return path, f.read()


def man_sections(src):
    """{command: flags} from the COMMANDS subsections and from the SYNOPSIS lines."""
    sections, synopsis = {}, {}
    cur = None
    where = None
    for line in src.splitlines():
        if line.startswith(".SH "):
            where = line[4:].strip().strip('"')
            cur = None
            continue
        text = roff_text(line)
        if where == "SYNOPSIS":
            m = re.match(r"\.B profgate ([a-z][a-z-]*)", text)
            if m:
                cur = synopsis.setdefault(m.group(1), set())
            elif cur is not None:
                cur |= set(FLAG.findall(text))
        elif where == "COMMANDS":
            m = re.match(r'\.SS "?profgate ([a-z][a-z-]*)', text)
            if m:
                cur = sections.setdefault(m.group(1), set())
            elif cur is not None and re.match(r"\.(BI?|TP)\b", text):
                # flags are the .B/.BI items of the subsection's list
                cur |= set(FLAG.findall(text))
    return sections, synopsis


def test_help_lists_commands_and_flags(t):
    rc, out, cmds = help_commands()
    t.check(rc == 0, "--help exit %d" % rc)
    t.check(cmds == ["run", "check", "check-web-config", "targets", "version", "help"],
            "commands %s" % cmds)
    union = set()
    for c in WITH_FLAGS:
        union |= help_flags(c)
    top = set(FLAG.findall(out)) - {"--help", "--version"}
    t.check(top == union, "top-level usage flags %s != commands' flags %s" %
            (sorted(top), sorted(union)))
    for alias in ("help", "-h", "--help"):
        t.check(pg(alias)[1] == out, "%s prints the usage" % alias)
    for c in WITH_FLAGS:
        t.check(pg(c, "-h")[0] == 0, "%s -h exits 0" % c)


def test_man_page_matches_help(t):
    path, src = man_page(t)
    _, _, cmds = help_commands()
    sections, synopsis = man_sections(src)
    t.check(sorted(sections) == sorted(cmds), "man COMMANDS %s != %s" % (sorted(sections), cmds))
    t.check(sorted(synopsis) == sorted(cmds), "man SYNOPSIS %s != %s" % (sorted(synopsis), cmds))
    for c in cmds:
        want = help_flags(c) if c in WITH_FLAGS else set()
        got = sections.get(c, set()) - {"--help", "--version"}
        t.check(got == want, "man %s flags %s != --help %s" % (c, sorted(got), sorted(want)))
        syn = synopsis.get(c, set())
        t.check(syn == want, "man SYNOPSIS %s flags %s != %s" % (c, sorted(syn), sorted(want)))
    t.check("@" not in re.sub(r"^\.\\\".*$", "", src, flags=re.M),
            "an @VARIABLE@ left unfilled in the man page")
    groff = shutil.which("groff")
    t.require(groff, "groff missing (scripts/deps.sh installs groff-base)")
    p = subprocess.run([groff, "-man", "-ww", "-z", path], capture_output=True, text=True)
    t.check(p.returncode == 0 and not p.stderr.strip(), "groff warnings: %s" % p.stderr)
    gz = path + ".gz"
    t.check(os.path.exists(gz), "gzipped man page %s missing" % gz)


def complete(line):
    """COMPREPLY of the bash completion for `line` (completing its last word)."""
    script = os.path.join(SRC, "packaging", "profgate.bash-completion")
    words = line.split(" ")
    prog = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
            '_profgate; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "--norc", "-c", prog, "bash", script, *words],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return set(x for x in p.stdout.split("\n") if x)


def test_bash_completion(t):
    _, _, cmds = help_commands()
    got = complete("profgate ")
    t.check(got == set(cmds) | {"--help", "-h", "--version"}, "commands offered: %s" % got)
    for c in cmds:
        want = (help_flags(c) | {"--help"}) if c in WITH_FLAGS else set()
        got = complete("profgate %s -" % c)
        t.check(got == want, "%s flags offered %s != %s" % (c, sorted(got), sorted(want)))
    t.check(complete("profgate run x.yml --log.level ") == {"debug", "info", "warn", "error"},
            "--log.level values")
    t.check(complete("profgate run x.yml --log.format = j") == {"json"}, "--log.format=j")
    t.check(complete("profgate ta") == {"targets"}, "prefix of a command")


def test_cli_md_mentions_everything(t):
    with open(os.path.join(SRC, "docs", "cli.md")) as f:
        doc = f.read()
    _, _, cmds = help_commands()
    for c in cmds:
        t.check("profgate " + c in doc, "docs/cli.md lacks `profgate %s`" % c)
    for c in WITH_FLAGS:
        for fl in help_flags(c):
            t.check(fl in doc, "docs/cli.md lacks %s" % fl)


def test_version(t):
    rc, out, err = pg("version")
    t.require(rc == 0, "version exit %d: %s" % (rc, err))
    lines = out.splitlines()
    m = re.match(r"^profgate, version (\S+) \(branch: (\S+), revision: (\S+)\)$", lines[0])
    t.require(m, "first line %r" % lines[0])
    t.check(re.fullmatch(r"[0-9a-f]{40}|unknown", m.group(3)), "revision %s" % m.group(3))
    fields = {}
    for ln in lines[1:]:
        mm = re.match(r"^  (\S[^:]*):\s+(\S.*)$", ln)
        t.check(mm, "line %r is not '  key: value'" % ln)
        if mm:
            fields[mm.group(1)] = mm.group(2)
    t.check(re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d", fields.get("build date", "")),
            "build date %r" % fields.get("build date"))
    for lib in ("compiler", "platform", "libcurl", "libevent", "SQLite", "protobuf-c", "zlib",
                "libdeflate", "jansson", "libyaml", "PCRE2", "xxHash"):
        t.check(re.search(r"\d", fields.get(lib, "")) or lib == "platform",
                "%s: %r" % (lib, fields.get(lib)))
    t.check(fields.get("platform", "").startswith("linux/"), "platform %r" % fields.get("platform"))
    t.check(pg("--version")[1] == out, "--version prints the same")


def test_default_config_checks(t):
    path = os.path.join(BUILD, "packaging", "profgate.yml")
    t.require(os.path.exists(path), "built default config %s missing" % path)
    rc, out, err = pg("check", path)
    t.check(rc == 0 and "0 scrape job(s)" in out and "0 remote_write" in out and
            "receiver disabled" in out, "check: rc=%d %s%s" % (rc, out, err))
    with open(path) as f:
        t.check(re.search(r"^  path: /\S*/lib/profgate$", f.read(), re.M),
                "storage.path is <localstatedir>/lib/profgate")


def test_kubernetes_examples_name_a_built_image(t):
    """Every image in examples/kubernetes is the one docs/install.md builds and pushes:
    registry.example.com/profgate:<this version> (not an image nothing builds)."""
    version = pg("version")[1].split()[2]
    want = "registry.example.com/profgate:" + version
    with open(os.path.join(SRC, "docs", "install.md")) as f:
        t.check("docker build -t %s" % want in f.read(), "docs/install.md builds %s" % want)
    n = 0
    for name in sorted(os.listdir(os.path.join(SRC, "examples", "kubernetes"))):
        with open(os.path.join(SRC, "examples", "kubernetes", name)) as f:
            text = f.read()
        for img in re.findall(r"^\s*image:\s*(\S+)", text, re.M):
            n += 1
            t.check(img == want, "%s: image %s, want %s" % (name, img, want))
        if "image:" in text:
            t.check("docker push %s" % want in text, "%s says how to build and push" % name)
    t.check(n >= 2, "images found in examples/kubernetes: %d" % n)


def test_install_doc(t):
    with open(os.path.join(SRC, "docs", "install.md")) as f:
        doc = f.read()
    heads = [h.lower() for h in re.findall(r"^## (.*)$", doc, re.M)]
    for want in ("package", "container", "source"):
        t.check(any(want in h for h in heads), "docs/install.md has no section on %s" % want)
    for needle in ("dpkg -i", "docker build", "cmake --install", "systemctl"):
        t.check(needle in doc, "docs/install.md lacks %r" % needle)
    with open(os.path.join(SRC, "README.md")) as f:
        t.check("docs/install.md" in f.read(), "README.md does not link docs/install.md")


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_help_lists_commands_and_flags, test_man_page_matches_help,
                               test_bash_completion, test_cli_md_mentions_everything,
                               test_version, test_default_config_checks,
                               test_kubernetes_examples_name_a_built_image, test_install_doc]))

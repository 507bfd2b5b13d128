"""test_config_check.py - `profgate check` on every example (must pass) and on the
bad-config corpus in tests/data/bad_configs (each must exit 1 naming the expected
file:line:col and message). Each corpus file's first line is `# expect: L:C: text`."""
import glob
import os
import subprocess
import sys

PROFGATE = os.environ["PROFGATE"]
SRC = os.environ["PG_SRC"]
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def run(path, env=None):
    p = subprocess.run([PROFGATE, "check", path], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout + p.stderr


examples = sorted(glob.glob(os.path.join(SRC, "examples", "*.yml")))
check(len(examples) >= 2, "examples found")
# the secrets and addresses a deployment of the examples provides through the environment
SECRETS = {"GRAFANA_CLOUD_TOKEN": "glc_example", "PROFGATE_CENTRAL_PASSWORD": "example-pw",
           "HOST_IP": "10.0.0.5"}
for ex in examples:
    rc, out = run(ex, SECRETS)
    check(rc == 0 and ": OK:" in out, f"example {ex} loads: rc={rc} {out.strip()}")

# profgate configs in example subfolders (next to Kubernetes manifests, which are not
# profgate configs), with the variables their deployments set
sub = sorted(glob.glob(os.path.join(SRC, "examples", "*", "profgate*.yml")))
check(len(sub) >= 2, "example subfolder configs found")
for ex in sub:
    rc, out = run(ex, {"NODE_NAME": "node-1", "SHARD": "0", "SHARDS": "3", "CLUSTER": "test",
                   "POD_IP": "10.0.0.5"})
    check(rc == 0 and ": OK:" in out, f"example {ex} loads: rc={rc} {out.strip()}")

corpus = sorted(glob.glob(os.path.join(SRC, "tests", "data", "bad_configs", "*.yml")))
check(len(corpus) >= 25, f"at least 25 bad configs (have {len(corpus)})")
for path in corpus:
    first = open(path).readline().strip()
    assert first.startswith("# expect: "), path
    exp = first[len("# expect: "):]
    line, col, text = exp.split(":", 2)
    text = text.strip()
    rc, out = run(path)
    want_pos = f"{path}:{line}:{col}: "
    hit = any(l.startswith(want_pos) and text in l for l in out.splitlines())
    check(rc == 1 and hit, f"{os.path.basename(path)}: want rc 1 and '{want_pos}...{text}', got rc={rc}:\n{out}")

# every error is reported, not just the first
multi = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pg_multi_{os.getpid()}.yml")
with open(multi, "w") as f:
    f.write("global:\n  scrape_interval: 1x\nscrape_configs:\n  - job_name: a\n    bogus: 1\n"
            "    relabel_configs:\n      - action: nope\n")
rc, out = run(multi)
os.unlink(multi)
check(rc == 1 and out.count(": ") >= 3 and "3 error(s)" in out, f"multiple errors reported: {out}")

# help and usage
rc, out = run("--help")
check(rc == 0 and "usage: profgate check" in out, "check --help")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

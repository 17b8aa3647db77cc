"""Policy profiles: parsing, positions of errors, last-match-wins, the CLI's `profiles`.

Pure: no tracing here (the profiles under real guests are in test_product.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_umlpy
from umlpy import profile as P


@pytest.mark.parametrize("name", P.names())
def test_builtins_parse_and_render_round_trips(name: str) -> None:
    prof = P.load(name)
    again = P.parse(P.render(prof), name=name, source="rendered")
    assert (again.filesystem, again.network, again.rules) == (prof.filesystem, prof.network, prof.rules)


def test_builtins_say_what_the_brief_says() -> None:
    d, s, b, t = (P.load(n) for n in ("default", "strict", "build", "trace-only"))
    assert (d.filesystem, d.network) == ("cow", "none")
    assert (s.filesystem, s.network) == ("read-only", "none")
    assert (b.filesystem, b.network) == ("cow", "none")
    assert (t.filesystem, t.network, t.rules) == ("host", "host", ())
    hidden = {r.pattern for r in d.file_rules if r.action == "hide"}
    assert {"~/.ssh", "~/.gnupg", "~/.aws", "~/.config/gcloud", "~/.azure", "~/.kube", "~/.docker/config.json",
            "~/.netrc", "~/.git-credentials", "~/.bash_history", "~/.mozilla"} <= hidden
    assert s.file_rules == d.file_rules == b.file_rules  # strict and build extend default


def _err(tmp_path: Path, text: str) -> str:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(P.ProfileError) as e:
        P.load(str(f))
    msg = str(e.value)
    assert "\n" not in msg
    return msg.removeprefix(f"{f}:")


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('filesystem = "cow\n', "1:18", "Illegal character"),
        ('network = "none"\nrules = [\n  "hide ~/.ssh",\n  "allow pypi.org:99999",\n]\n', "4:3", "out of range"),
        ('network = "everything"\n', "1:11", "expected one of none, loopback, host"),
        ('filesystem = "cow"\n  colour = 1\n', "2:3", "unknown key 'colour'"),
        ('rules = ["frobnicate /x"]\n', "1:10", "unknown action 'frobnicate'"),
        ('rules = ["hide relative/path"]\n', "1:10", "absolute path"),
        ('rules = ["deny syscall nosuchcall"]\n', "1:10", "unknown syscall 'nosuchcall'"),
        ('rules = ["log syscall openat:error=EIO"]\n', "1:10", "only deny and inject"),
        ('rules = "hide ~/.ssh"\n', "1:1", "must be a list"),
        ('fake-root = "yes"\n', "1:1", "true or false"),
        ('extends = "nosuch"\n', "1:11", "no profile 'nosuch'"),
        ('rules = [\n', "2:1", ""),
    ],
)
def test_errors_name_file_line_and_column(tmp_path: Path, text: str, where: str, what: str) -> None:
    msg = _err(tmp_path, text)
    assert msg.startswith(where + ": "), msg
    assert what in msg, msg


def test_extends_a_file_and_loops_are_refused(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('network = "loopback"\nrules = ["hide /secret", "allow 10.0.0.0/8:443"]\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\nrules = ["deny 10.1.0.0/16"]\n')
    child = P.load(str(tmp_path / "child.toml"))
    assert child.network == "loopback"
    assert child.net_rules == (("allow", "10.0.0.0/8:443"), ("deny", "10.1.0.0/16"))
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(P.ProfileError, match="loops back"):
        P.load(str(tmp_path / "a.toml"))


def test_file_rules_last_match_wins(tmp_path: Path) -> None:
    for d in ("a/b/c", "a/x", "s/keys"):
        (tmp_path / d).mkdir(parents=True)
    t = str(tmp_path)
    rules = [P.FileRule("hide", f"{t}/a/b"), P.FileRule("write", f"{t}/a"), P.FileRule("read-only", f"{t}/a/x"),
             P.FileRule("hide", f"{t}/s/*"), P.FileRule("cow", f"{t}/nothing-here")]
    plan = P.plan_files(rules)
    # The later write of a/ covers a/b: no longer hidden; a/x is read-only inside it.
    assert plan.binds == ((f"{t}/a", "rw"), (f"{t}/a/x", "ro"))
    assert plan.hidden == (f"{t}/s/keys",)
    # The other way round, the hide comes last and wins.
    plan2 = P.plan_files([P.FileRule("write", f"{t}/a"), P.FileRule("hide", f"{t}/a/b")])
    assert plan2.binds == ((f"{t}/a", "rw"),) and plan2.hidden == (f"{t}/a/b",)


def test_home_is_expanded_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".netrc").write_text("machine x\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    plan = P.plan_files(P.load("default").file_rules)
    assert set(plan.hidden) == {f"{tmp_path}/.ssh", f"{tmp_path}/.netrc"}  # only what exists


def test_syscall_rules_last_match_wins_in_the_injector() -> None:
    prof = P.parse('rules = ["deny syscall openat", "log syscall openat:path=/etc/*", "allow syscall uname"]\n')
    rules = prof.inject_rules()
    assert [r.action for r in rules] == ["allow", "log", "deny"]  # the injector takes the first match
    assert rules[2].retval == -1 and rules[2].label == "deny syscall openat"  # EPERM by default


def test_cli_profiles_lists_and_shows(tmp_path: Path) -> None:
    r = run_umlpy("profiles")
    assert r.returncode == 0 and [ln.split()[0] for ln in r.stdout.splitlines()] == P.names()
    r = run_umlpy("profiles", "strict")
    assert r.returncode == 0 and 'filesystem = "read-only"' in r.stdout and '"hide ~/.ssh",' in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('rules = [\n  "allow example.org:http",\n]\n')
    for args in (("profiles", str(bad)), ("run", "--profile", str(bad), "--", "true")):
        r = run_umlpy(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{bad}:2:3: " in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_audit_rules_are_the_fewest_over_strict(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    t = str(tmp_path)
    changes = [{"path": f"{t}/a/b/new/deep/f", "kind": "created"}, {"path": f"{t}/a/x", "kind": "modified"},
               {"path": f"{t}/a/b/gone", "kind": "deleted"}]
    conns = [{"op": "connect", "family": "AF_INET", "address": "127.0.0.1", "port": 8080, "protocol": "tcp",
              "allowed": False},
             {"op": "sendto", "family": "AF_INET6", "address": "::1", "port": 53, "protocol": "udp", "allowed": False},
             {"op": "connect", "family": "AF_INET", "address": "127.0.0.1", "port": 8080, "protocol": "tcp",
              "allowed": False},
             {"op": "connect", "family": "AF_INET", "address": "127.0.0.1", "port": 9, "protocol": "tcp",
              "allowed": True}]
    assert P.audit_rules(changes, conns) == [f"cow {t}/a", "allow 127.0.0.1:8080/tcp", "allow [::1]:53/udp"]
    text = P.audit_profile(changes, conns, ["make", "install"])
    prof = P.parse(text)
    assert prof.filesystem == "read-only" and prof.net_rules[-1] == ("allow", "[::1]:53/udp")

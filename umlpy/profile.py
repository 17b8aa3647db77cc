"""Policy profiles: one TOML file says what the guest sees of files, network and syscalls.

A profile is a TOML document (tomllib, Python >= 3.11)::

    description = "what this profile is for"
    extends = "default"        # optional: a built-in name or a file (relative to this one)
    filesystem = "cow"         # cow | read-only | host  (host: no virtual filesystem)
    network = "none"           # none | loopback | host
    fake-root = false
    rules = [
        "hide ~/.ssh",                          # files: hide | read-only | write | cow  GLOB
        "write ~/project/build",
        "allow pypi.org:443",                   # network: allow | deny  RULE (umlpy.vnet.rules)
        "deny 10.0.0.0/8",
        "deny syscall ptrace",                  # syscalls: deny | log | allow | inject  syscall SPEC
        "deny syscall openat:path=/etc/shadow:error=EACCES",
        "log syscall execve",
        "inject syscall read:error=EIO:when=3",
    ]

**Precedence.**  Rules are read in order: an ``extends`` parent's first,
then this file's, then the command line's (``--hide``, ``--write``,
``--bind``, ``--allow``, ``--deny`` become rules appended at the end, and
``--read-only``, ``--host-fs``, ``--net``, ``-0`` replace the settings).  For
any one path, destination or syscall, **the last rule that matches decides**;
when none matches, the settings decide (``filesystem`` for files,
``network`` for destinations, the syscall table for syscalls).

* Files: a rule covers its path and everything beneath it.  Globs (``*``,
  ``?``, ``[...]``, ``**``) and ``~`` are expanded when the run starts; only
  paths that exist then are affected.  A path hidden by a rule hides its
  whole subtree, so a later rule *beneath* a hidden path has no effect
  (rules that cover the hidden path itself, or a parent, do un-hide it).
* Network rules are :mod:`umlpy.vnet.rules` rules; see
  :mod:`umlpy.vnet.policy` for the guest's own loopback services, which no
  rule blocks.
* Syscall rules use the fault-injection language of
  :mod:`umlpy.vkernel.inject` (``SET[:path=GLOB][:fd=N][:when=EXPR]``):
  ``deny`` fails the call (``error=`` picks the errno, EPERM by default)
  and reports it as a denial naming the rule; ``log`` lets it run and
  reports it; ``allow`` undoes an earlier ``deny``/``log``; ``inject`` is
  ``--inject``.  No rule can allow what the syscall table refuses.

A profile that cannot be read is a :class:`ProfileError`: one line,
``FILE:LINE:COLUMN: what``.  TOML syntax errors carry tomllib's position;
errors in values point at the value's first occurrence in the text.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from umlpy.vkernel import inject

FILE_ACTIONS = ("hide", "read-only", "write", "cow")
NET_ACTIONS = ("allow", "deny")
SYSCALL_ACTIONS = ("deny", "log", "allow", "inject")
FILESYSTEMS = ("cow", "read-only", "host")
NETWORKS = ("none", "loopback", "host")
_KEYS = ("description", "extends", "filesystem", "network", "fake-root", "rules")

_SECRETS = """
    # Credentials and keys in the home directory: absent for the guest.
    "hide ~/.ssh", "hide ~/.gnupg", "hide ~/.aws", "hide ~/.config/gcloud", "hide ~/.azure",
    "hide ~/.kube", "hide ~/.docker/config.json", "hide ~/.netrc", "hide ~/.git-credentials",
    "hide ~/.config/gh/hosts.yml", "hide ~/.pypirc", "hide ~/.npmrc", "hide ~/.pgpass",
    "hide ~/.password-store", "hide ~/.local/share/keyrings", "hide ~/.terraform.d/credentials.tfrc.json",
    # Browser profiles (cookies, saved passwords).
    "hide ~/.mozilla", "hide ~/snap/firefox", "hide ~/.config/google-chrome", "hide ~/.config/chromium",
    "hide ~/.config/BraveSoftware", "hide ~/.config/microsoft-edge", "hide ~/.config/vivaldi",
    # Shell and REPL histories.
    "hide ~/.bash_history", "hide ~/.zsh_history", "hide ~/.histfile", "hide ~/.local/share/fish/fish_history",
    "hide ~/.python_history", "hide ~/.node_repl_history", "hide ~/.psql_history", "hide ~/.mysql_history",
    "hide ~/.sqlite_history", "hide ~/.lesshst",
"""

BUILTIN: dict[str, str] = {
    "default": f'''description = "copy-on-write over /, no network, home-directory secrets hidden"
filesystem = "cow"
network = "none"
rules = [{_SECRETS}]
''',
    "strict": '''description = "read-only view of the host, no network, home-directory secrets hidden"
extends = "default"
filesystem = "read-only"
network = "none"
''',
    "build": '''description = "copy-on-write, network only to the hosts you allow (--allow pypi.org:443)"
extends = "default"
filesystem = "cow"
network = "none"
# The guest resolves names itself: allow your resolver too, e.g. --allow 127.0.0.53:53
rules = []
''',
    "trace-only": '''description = "no virtualization: the host's filesystem and network, only observed"
filesystem = "host"
network = "host"
''',
}


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line with a position."""


@dataclass(frozen=True, slots=True)
class FileRule:
    action: str  # one of FILE_ACTIONS
    pattern: str


@dataclass(frozen=True, slots=True)
class NetRule:
    action: str  # allow | deny
    spec: str


@dataclass(frozen=True, slots=True)
class SyscallRule:
    action: str  # one of SYSCALL_ACTIONS
    spec: str
    rule: inject.InjectRule


Rule = FileRule | NetRule | SyscallRule


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: str  # a file path, or "builtin:NAME"
    description: str = ""
    filesystem: str = "cow"
    network: str = "none"
    fake_root: bool = False
    rules: tuple[Rule, ...] = ()

    @property
    def file_rules(self) -> tuple[FileRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, FileRule))

    @property
    def net_rules(self) -> tuple[tuple[str, str], ...]:
        return tuple((r.action, r.spec) for r in self.rules if isinstance(r, NetRule))

    def inject_rules(self) -> tuple[inject.InjectRule, ...]:
        """The syscall rules for :class:`umlpy.vkernel.inject.Injector`, which takes the
        first match: reversed, so the last rule written wins."""
        return tuple(r.rule for r in reversed(self.rules) if isinstance(r, SyscallRule))

    def with_rules(self, extra: Iterable[Rule]) -> Profile:
        return replace(self, rules=self.rules + tuple(extra))


# --- loading --------------------------------------------------------------------------


def names() -> list[str]:
    return sorted(BUILTIN)


def load(name_or_file: str) -> Profile:
    """A built-in profile by name, or a TOML file (a name containing '/' or ending in .toml)."""
    return _load(name_or_file, base_dir=os.getcwd(), seen=())


def _load(ref: str, *, base_dir: str, seen: tuple[str, ...]) -> Profile:
    if ref in BUILTIN and "/" not in ref:
        if f"builtin:{ref}" in seen:
            raise ProfileError(f"'extends' loops back to {ref!r}")
        return parse(BUILTIN[ref], name=ref, source=f"builtin:{ref}", seen=(*seen, f"builtin:{ref}"))
    path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(ref)))
    if not (ref.endswith(".toml") or "/" in ref):
        raise ProfileError(f"no profile {ref!r} (built-in: {', '.join(names())}; or a .toml file)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ProfileError(f"{ref}: {e.strerror}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ProfileError(f"{ref}:{line}:1: not UTF-8 text") from None
    name = os.path.splitext(os.path.basename(path))[0]
    shown = ref if not seen else os.path.relpath(path)
    return parse(text, name=name, source=shown, seen=(*seen, path), base_dir=os.path.dirname(path))


_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def parse(text: str, *, name: str = "profile", source: str = "<profile>", seen: tuple[str, ...] = (),
          base_dir: str | None = None) -> Profile:
    """Parse a profile's text; ProfileError (one line, ``SOURCE:LINE:COL: what``) on any fault."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        if m:
            raise ProfileError(f"{source}:{m.group(1)}:{m.group(2)}: {msg[: m.start()]}") from None
        if _TOML_END.search(msg):
            lines = text.split("\n")
            raise ProfileError(f"{source}:{len(lines)}:{len(lines[-1]) + 1}: "
                               f"{_TOML_END.sub('', msg)}") from None
        raise ProfileError(f"{source}:1:1: {msg}") from None
    where = _Locator(text, source)
    for key in doc:
        if key not in _KEYS:
            raise where.error(key, f"unknown key {key!r} (expected one of: {', '.join(_KEYS)})", key=True)
    prof = Profile(name=name, source=source)
    if "extends" in doc:
        ref = _string(doc, "extends", where)
        if os.path.normpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(ref))) in seen:
            raise where.error(ref, f"'extends' loops back to {ref!r}")
        try:
            parent = _load(ref, base_dir=base_dir or os.getcwd(), seen=seen)
        except ProfileError as e:
            raise where.error(ref, f"extends {ref!r}: {e}") from None
        prof = replace(parent, name=name, source=source, description="")
    description = _string(doc, "description", where) if "description" in doc else prof.description
    filesystem = _choice(doc, "filesystem", FILESYSTEMS, where) if "filesystem" in doc else prof.filesystem
    network = _choice(doc, "network", NETWORKS, where) if "network" in doc else prof.network
    fake_root = prof.fake_root
    if "fake-root" in doc:
        if not isinstance(doc["fake-root"], bool):
            raise where.error("fake-root", "'fake-root' must be true or false", key=True)
        fake_root = doc["fake-root"]
    rules = list(prof.rules)
    if "rules" in doc:
        items = doc["rules"]
        if not isinstance(items, list):
            raise where.error("rules", "'rules' must be a list of strings", key=True)
        for item in items:
            if not isinstance(item, str):
                raise where.error("rules", f"rules: {item!r} is not a string", key=True)
            try:
                rules.append(parse_rule(item))
            except ValueError as e:
                raise where.error(item, str(e)) from None
    return Profile(name, source, description, filesystem, network, fake_root, tuple(rules))


def parse_rule(text: str) -> Rule:
    """One rule: ``ACTION TARGET`` (see the module docstring). ValueError on bad input."""
    words = text.split(None, 1)
    if len(words) != 2:
        raise ValueError(f"rule {text!r}: expected 'ACTION TARGET' (e.g. 'hide ~/.ssh', 'allow pypi.org:443')")
    action, target = words[0], words[1].strip()
    if target.startswith("syscall ") or target == "syscall":
        spec = target.removeprefix("syscall").strip()
        if action not in SYSCALL_ACTIONS:
            raise ValueError(f"rule {text!r}: syscall rules are {', '.join(SYSCALL_ACTIONS)}")
        return SyscallRule(action, spec, _syscall_rule(action, spec, text))
    if action in FILE_ACTIONS:
        if not target.startswith(("/", "~")):
            raise ValueError(f"rule {text!r}: file rules take an absolute path or ~/PATH")
        if action == "hide" and os.path.normpath(target) == "/":
            raise ValueError(f"rule {text!r}: cannot hide the guest root")
        return FileRule(action, target)
    if action in NET_ACTIONS:
        spec = target.removeprefix("net ").strip()
        from umlpy.vnet.rules import parse_rule as parse_net_rule  # ipaddress & co: only for profiles with net rules

        parse_net_rule(spec, action)  # ValueError names the problem
        return NetRule(action, spec)
    known = sorted({*FILE_ACTIONS, *NET_ACTIONS, *SYSCALL_ACTIONS})
    raise ValueError(f"rule {text!r}: unknown action {action!r} (expected one of: {', '.join(known)})")


def _syscall_rule(action: str, spec: str, text: str) -> inject.InjectRule:
    if action == "inject":
        try:
            return inject.parse_rule(spec)
        except ValueError as e:
            raise ValueError(f"rule {text!r}: {str(e).removeprefix('--inject ')}") from None
    parts = spec.split(":")
    if action != "deny" and any(p.startswith(("error=", "retval=", "signal=")) for p in parts[1:]):
        raise ValueError(f"rule {text!r}: only deny and inject rules take error=/retval=/signal=")
    if action == "deny" and not any(p.startswith("error=") for p in parts[1:]):
        parts.append("error=EPERM")
    elif action != "deny":
        parts.append("retval=0")  # placeholder so the shared parser accepts it; not used
    try:
        r = inject.parse_rule(":".join(parts))
    except ValueError as e:
        raise ValueError(f"rule {text!r}: {str(e).split(': ', 1)[-1]}") from None
    when = r.when if any(p.startswith("when=") for p in parts[1:]) else inject.When(1, None, 1)
    return replace(r, action=action, label=text, when=when, retval=r.retval if action == "deny" else None)


def _string(doc: dict[str, object], key: str, where: _Locator) -> str:
    v = doc[key]
    if not isinstance(v, str):
        raise where.error(key, f"{key!r} must be a string", key=True)
    return v


def _choice(doc: dict[str, object], key: str, allowed: Sequence[str], where: _Locator) -> str:
    v = _string(doc, key, where)
    if v not in allowed:
        raise where.error(v, f"{key} = {v!r}: expected one of {', '.join(allowed)}")
    return v


@dataclass(slots=True)
class _Locator:
    """Positions of values in the source text (tomllib reports none for valid TOML)."""

    text: str
    source: str
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.text.split("\n")

    def error(self, needle: str, message: str, *, key: bool = False) -> ProfileError:
        line, col = self._find(needle, key=key)
        return ProfileError(f"{self.source}:{line}:{col}: {message}")

    def _find(self, needle: str, *, key: bool) -> tuple[int, int]:
        if key:
            pat = re.compile(r"^\s*(" + re.escape(needle) + r"|\"" + re.escape(needle) + r"\")\s*=")
            for i, ln in enumerate(self.lines):
                m = pat.match(ln)
                if m:
                    return i + 1, m.start(1) + 1
        for quoted in (f'"{_toml_escape(needle)}"', f"'{needle}'", f'"""{needle}', f"'''{needle}"):
            for i, ln in enumerate(self.lines):
                c = ln.find(quoted)
                if c >= 0:
                    return i + 1, c + 1
        return 1, 1


def _toml_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


# --- applying ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilePlan:
    """What the file rules come to at run time: mounts over the root, and hidden paths."""

    binds: tuple[tuple[str, str], ...]  # (path, access: ro|rw|cow), host path = guest path
    hidden: tuple[str, ...]


def expand(pattern: str) -> list[str]:
    """The existing paths a file rule's pattern names now (``~`` is $HOME)."""
    p = os.path.expanduser(pattern)
    if not p.startswith("/"):
        return []  # ~user that does not exist
    if glob.has_magic(p):
        return sorted(os.path.normpath(m) for m in glob.glob(p, recursive=True))
    p = os.path.normpath(p)
    return [p] if os.path.lexists(p) else []


_ACCESS = {"read-only": "ro", "write": "rw", "cow": "cow"}


def plan_files(rules: Iterable[FileRule]) -> FilePlan:
    """Apply "last match wins" to the expanded rules.

    A rule for P replaces every earlier rule for P or beneath it; what is left
    never has a retained rule beneath a later one, so the mount table's
    "deepest mount wins" then agrees with "last rule wins".
    """
    kept: dict[str, str] = {}
    for r in rules:
        for p in expand(r.pattern):
            for q in [q for q in kept if q == p or q.startswith(p.rstrip("/") + "/")]:
                del kept[q]
            kept[p] = r.action
    binds = tuple((p, _ACCESS[a]) for p, a in kept.items() if a != "hide" and p != "/")
    hidden = tuple(p for p, a in kept.items() if a == "hide")
    return FilePlan(binds, hidden)


def root_access(profile: Profile) -> str:
    """The root's access after the rules: a rule for / itself overrides ``filesystem``."""
    mode = profile.filesystem
    for r in profile.file_rules:
        if r.pattern.rstrip("/") == "" and r.action in _ACCESS:
            mode = "read-only" if r.action == "read-only" else "cow"
    return mode


def render(profile: Profile) -> str:
    """The profile as TOML text, with its rules flattened (``extends`` resolved)."""
    out = [f"# umlpy profile {profile.name} ({profile.source})"]
    if profile.description:
        out.append(f'description = "{_toml_escape(profile.description)}"')
    out += [f'filesystem = "{profile.filesystem}"', f'network = "{profile.network}"']
    if profile.fake_root:
        out.append("fake-root = true")
    out.append("rules = [")
    for r in profile.rules:
        text = f"{r.action} {r.pattern}" if isinstance(r, FileRule) else (
            f"{r.action} {r.spec}" if isinstance(r, NetRule) else f"{r.action} syscall {r.spec}")
        out.append(f'    "{_toml_escape(text)}",')
    out.append("]")
    return "\n".join(out) + "\n"


# --- audit -------------------------------------------------------------------------------


def _existing_dir(path: str) -> str:
    """The deepest directory at or above ``path`` that exists on the host."""
    p = os.path.dirname(path.rstrip("/")) or "/"
    while p != "/" and not os.path.isdir(p):
        p = os.path.dirname(p)
    return p


def audit_rules(changes: Iterable[Mapping[str, object]], connections: Iterable[Mapping[str, object]]) -> list[str]:
    """The fewest rules over ``strict`` that would have allowed what an audited run did.

    Files: ``cow`` on the host directory each change sits in (its nearest
    existing ancestor; a directory whose ancestor is already listed is
    dropped).  Network: ``allow ADDRESS:PORT/PROTO`` for each destination
    the run was refused.
    """
    dirs: list[str] = []
    for d in sorted({_existing_dir(str(c.get("path"))) for c in changes}, key=lambda p: (p.count("/"), p)):
        if not any(d == k or d.startswith(k.rstrip("/") + "/") for k in dirs):
            dirs.append(d)
    rules = [f"cow {d}" for d in dirs]
    seen: set[str] = set()
    for c in connections:
        if c.get("allowed") or c.get("op") == "bind" or c.get("family") not in ("AF_INET", "AF_INET6"):
            continue
        addr = str(c.get("address"))
        target = f"[{addr}]" if ":" in addr else addr
        rule = f"allow {target}:{c.get('port')}/{str(c.get('protocol')).lower()}"
        if rule not in seen:
            seen.add(rule)
            rules.append(rule)
    return rules


def audit_profile(changes: Iterable[Mapping[str, object]], connections: Iterable[Mapping[str, object]],
                  argv: Sequence[str]) -> str:
    """A profile file (TOML text) extending ``strict`` with :func:`audit_rules`."""
    rules = audit_rules(changes, connections)
    body = "".join(f'    "{_toml_escape(r)}",\n' for r in rules)
    cmd = " ".join(argv)
    return (f"# written by umlpy run --audit for: {cmd}\n"
            f'description = "strict, plus what `{_toml_escape(cmd[:60])}` needed"\n'
            f'extends = "strict"\nrules = [\n{body}]\n')

"""Command line: ``umlpy run|doctor|syscalls``.

Exit status of ``umlpy run`` (documented in README):

* the guest's own exit code; if the guest died of signal N, umlpy dies of
  the same signal, so the calling shell prints the same report and sees
  128+N;
* 2: bad usage; 124: a limit (``--timeout``, ``--memory``) stopped the run;
  125: umlpy itself failed (the guest was killed);
  126: the command is not executable; 127: the command was not found.

Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to umlpy with kill(2) are
forwarded to the guest's main process.  The guest shares umlpy's process
group, so signals from the terminal (Ctrl-C, Ctrl-\\) reach it directly and
are not forwarded twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast

from umlpy import __version__, _codecache

_codecache.install()  # before the imports below define their dataclasses

from umlpy.sandbox import RunResult, Sandbox, SandboxConfig, UmlpyError, reraise_signal

if TYPE_CHECKING:
    from umlpy.profile import Profile
    from umlpy.vfs.vfs import VfsConfig

EXIT_USAGE = 2
EXIT_LIMIT = 124
EXIT_INTERNAL = 125

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_USER, SI_QUEUE, SI_TKILL = 0, -1, -6


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"umlpy: {message} (see 'umlpy --help')\n")
        sys.exit(EXIT_USAGE)


def _size(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = float(num) * units[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 2G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return int(value)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _age(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    t = text.strip().lower()
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "s")
    try:
        value = float(num) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an age: {text!r} (e.g. 30m, 12h, 7d)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"age must not be negative: {text!r}")
    return value


def _cpu(text: str) -> str | int:
    if text in ("same", "spread"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cpu takes same, spread or a CPU number, not {text!r}") from None


def build_parser(*, with_trace: bool = True) -> argparse.ArgumentParser:
    p = _Parser(prog="umlpy", description="Run programs under a syscall-trapping sandbox.")
    p.add_argument("--version", action="version", version=f"umlpy {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log what umlpy does (repeat for more)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a command in the sandbox", description="Run CMD in the sandbox.")
    r.add_argument("--profile", default="default", metavar="NAME|FILE",
                   help="policy profile: a built-in name (see 'umlpy profiles') or a TOML file (default: default); "
                        "the options below override it")
    r.add_argument("--wait-all", action="store_true", help="wait for every guest process, not just the main one")
    r.add_argument("--cpu", type=_cpu, default="same", help="same (default): tracer and guest on one CPU; spread; or a CPU number")
    r.add_argument("--read-only", action="store_true", help="the guest's / is read-only (EROFS) instead of copy-on-write")
    r.add_argument("--write", action="append", default=[], metavar="PATH",
                   help="writes beneath PATH go to the host directly (a read-write bind of PATH)")
    r.add_argument("--overlay", action="append", default=[], metavar="HOST[:GUEST]",
                   help="show HOST at GUEST copy-on-write: the guest's changes to it stay in the sandbox")
    r.add_argument("--bind", action="append", default=[], metavar="HOST[:GUEST][:ro|rw|cow]",
                   help="show host path HOST at GUEST (default: same path, read-write)")
    r.add_argument("--uid", type=int, metavar="N", help="the guest believes it is uid N (getuid, stat of your files)")
    r.add_argument("--gid", type=int, metavar="N", help="the guest believes it is gid N")
    r.add_argument("--root", metavar="DIR", help="DIR is the guest's / (a rootfs, copy-on-write; PRoot's -r)")
    r.add_argument("--tmpfs", action="append", default=[], metavar="GUEST", help="an empty private directory at GUEST")
    r.add_argument("--hide", action="append", default=[], metavar="GUEST", help="GUEST does not exist for the guest")
    r.add_argument("-0", "--fake-root", action="store_true", help="chown/chmod/chroot succeed and persist in the sandbox")
    r.add_argument("--state-dir", metavar="DIR", help="keep the sandbox's changes in DIR (default: a new one under ~/.local/state/umlpy)")
    r.add_argument("--host-fs", action="store_true",
                   help="no virtual filesystem: the host's, with --read-only/--write enforced by Landlock only")
    keep = r.add_mutually_exclusive_group()
    keep.add_argument("--commit", action="store_true", help="apply the guest's changes to the host when it ends")
    keep.add_argument("--discard", action="store_true", help="throw the guest's changes away when it ends")
    r.add_argument("--net", choices=("host", "none", "loopback"), default=None,
                   help="none (default): nothing leaves the sandbox (the guest's own loopback servers work); "
                        "loopback: host loopback too; host: the host's network, unchecked")
    r.add_argument("--allow", dest="net_rules", action="append", default=[], metavar="RULE",
                   type=lambda t: ("allow", t), help="reach ADDR[/CIDR]|NAME|*[:PORTS][/tcp|udp] (last match wins)")
    r.add_argument("--deny", dest="net_rules", action="append", metavar="RULE",
                   type=lambda t: ("deny", t), help="refuse a destination (same syntax as --allow)")
    r.add_argument("--publish", "-p", dest="publish", action="append", default=[], metavar="[[ADDR:]HOST:]GUEST[/tcp|udp]",
                   help="serve the guest's port GUEST on the host at ADDR:HOST (default all addresses; no HOST: "
                        "a free port, printed when the guest binds it)")
    r.add_argument("--ip", dest="net_address", metavar="ADDR/PREFIX",
                   help="the guest's eth0 address under --net none/loopback (default 10.0.2.15/24, gateway 10.0.2.2)")
    r.add_argument("--hostname", metavar="NAME",
                   help="the guest's hostname (uname, gethostname); default umlpy, or the host's with --net host")
    r.add_argument("--no-landlock", action="store_true", help="do not apply the Landlock backstop")
    r.add_argument("--scratch-guard", choices=("auto", "seal", "trap"), default="auto",
                   help="keep umlpy's scratch pages read-only with mseal (free) or by trapping mprotect/munmap/... (auto: seal if the kernel can)")
    r.add_argument("--timeout", type=_positive, metavar="SECONDS", help="kill the guest after this long (exit 124)")
    r.add_argument("--memory", type=_size, metavar="SIZE", help="kill the guest above this resident memory (exit 124)")
    r.add_argument("--max-procs", type=int, default=4096, metavar="N", help="fork/clone fail with EAGAIN at N live tasks (default 4096)")
    r.add_argument("--report", metavar="FILE", help="write the run report as JSON")
    r.add_argument("--report-html", metavar="FILE", help="write the run report as one self-contained HTML page")
    r.add_argument("--audit", action="store_true",
                   help="record what the strict profile would have refused (the run itself is under --profile, "
                        "default: copy-on-write, no network) and say which rules would allow it")
    r.add_argument("--write-profile", metavar="FILE", help="with --audit: write those rules as a profile extending strict")
    r.add_argument("-q", "--quiet", action="store_true", help="no summary of denials on stderr, no live status")
    r.add_argument("--no-status", action="store_true",
                   help="no live status in the terminal's title (shown on runs over a second when stderr is a terminal)")
    r.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")

    df = sub.add_parser("diff", help="what a sandbox changed (files created, modified, deleted)")
    df.add_argument("id", nargs="?", help="sandbox id (default: the latest)")
    cm = sub.add_parser("commit", help="apply a sandbox's changes to the host")
    cm.add_argument("id")
    cm.add_argument("paths", nargs="*", metavar="PATH", help="only changes at or beneath these guest paths")
    dc = sub.add_parser("discard", help="throw a sandbox's changes away")
    dc.add_argument("ids", nargs="+", metavar="ID")
    sub.add_parser("list", help="sandboxes with kept changes")
    gc = sub.add_parser("gc", help="remove kept sandboxes by age and total size",
                        description="Remove kept sandboxes older than AGE, then the oldest ones until all "
                                    "together take at most SIZE.  Sandboxes in use by a run are kept. "
                                    "With neither option: --older-than 7d.")
    gc.add_argument("--older-than", type=_age, metavar="AGE", help="e.g. 30m, 12h, 7d, 2w (seconds without a unit)")
    gc.add_argument("--max-size", type=_size, metavar="SIZE", help="e.g. 500M, 2G")
    gc.add_argument("-n", "--dry-run", action="store_true", help="only print what would be removed")
    pr = sub.add_parser("profiles", help="list policy profiles, or show one",
                        description="List the built-in profiles, or print one (NAME or FILE) with its rules "
                                    "resolved; a file that does not parse gives FILE:LINE:COLUMN and status 2.")
    pr.add_argument("name", nargs="?", metavar="NAME|FILE")

    t = sub.add_parser("trace", help="strace-style tracing of a command's syscalls")
    if with_trace:  # the decoders cost ~25 ms to import: only when tracing
        from umlpy import trace as trace_cmd

        trace_cmd.configure_parser(t)

    dbg = sub.add_parser("debug", help="stop a command at chosen syscalls; inspect and change them at a prompt")
    if with_trace:
        from umlpy import debug as debug_cmd

        debug_cmd.configure_parser(dbg)

    td = sub.add_parser("trace-diff", help="what two traced runs (umlpy trace --json) did differently")
    td.add_argument("a", metavar="A.jsonl")
    td.add_argument("b", metavar="B.jsonl")

    d = sub.add_parser("doctor", help="what this host allows, and what that means for containment")
    d.add_argument("--json", action="store_true")

    s = sub.add_parser("syscalls", help="print the syscall table with each call's action")
    s.add_argument("--format", choices=("text", "json", "md"), default="text")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    words = [a for a in argv if not a.startswith("-")]
    args = build_parser(with_trace=bool(words) and words[0] in ("trace", "debug")).parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="umlpy: %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        match args.command:
            case "run":
                return _run(args)
            case "diff" | "commit" | "discard" | "list":
                return _review(args)
            case "gc":
                return _gc(args)
            case "profiles":
                return _profiles(args)
            case "trace":
                from umlpy import trace as trace_cmd

                return trace_cmd.main(args)
            case "debug":
                from umlpy import debug as debug_cmd

                return debug_cmd.main(args)
            case "trace-diff":
                from umlpy import tracediff

                try:
                    return tracediff.main(args.a, args.b)
                except ValueError as e:
                    raise UmlpyError(f"umlpy: trace-diff: {e}", EXIT_USAGE) from None
            case "doctor":
                from umlpy.doctor import main as doctor_main

                return doctor_main(json_out=args.json)
            case "syscalls":
                from umlpy.doctor import print_syscalls

                return print_syscalls(args.format)
    except UmlpyError as e:
        sys.stderr.write(f"{e}\n")
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `umlpy trace-diff A B | head`
        return 128 + signal.SIGPIPE
    return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from umlpy.profile import ProfileError, load

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UmlpyError("umlpy: run: no command given (usage: umlpy run [OPTIONS] -- CMD [ARG...])", EXIT_USAGE)
    if args.max_procs is not None and args.max_procs < 1:
        raise UmlpyError("umlpy: --max-procs must be at least 1", EXIT_USAGE)
    if args.write_profile and not args.audit:
        raise UmlpyError("umlpy: --write-profile needs --audit", EXIT_USAGE)
    monitor = None
    if not args.quiet and not args.no_status:
        from umlpy import status

        if status.wanted(sys.stderr.fileno(), os.environ):
            monitor = status.LiveStatus(sys.stderr.fileno(), argv[0], delay=_status_delay())
    try:
        profile = load(args.profile)
    except ProfileError as e:
        raise UmlpyError(f"umlpy: {e}", EXIT_USAGE) from None
    writable: tuple[str, ...] | None = None
    for w in args.write:
        if not os.path.exists(w):
            raise UmlpyError(f"umlpy: --write {w}: No such file or directory", EXIT_USAGE)
    host_fs = args.host_fs or profile.filesystem == "host"
    vfs = None if host_fs else _vfs_options(args, argv, profile)
    if host_fs and (args.read_only or args.write):
        writable = tuple(os.path.abspath(w) for w in args.write)
    cfg = SandboxConfig(
        kill_on_exit=not args.wait_all,
        cpu=args.cpu,
        writable=writable,
        landlock=not args.no_landlock,
        net=cast('Literal["host", "none", "loopback"]', args.net or profile.network),
        net_rules=profile.net_rules + tuple(args.net_rules),
        net_address=args.net_address,
        publish=tuple(args.publish),
        hostname=args.hostname,
        max_tasks=args.max_procs,
        memory=args.memory,
        timeout=args.timeout,
        scratch_guard=args.scratch_guard,
        vfs=vfs,
        inject=profile.inject_rules(),
    )
    # Ctrl-Z reaches umlpy and the guest together.  If umlpy stopped at once,
    # the guest's own stop would be processed only after the shell's SIGCONT
    # and the guest would stay stopped behind a running umlpy.  So umlpy
    # ignores the terminal's stop and stops itself once the guest has.
    signal.signal(signal.SIGTSTP, _ignore)
    forwarder = _SignalForwarder()
    try:
        result = Sandbox(cfg).run(argv, on_start=forwarder.set_target, on_guest_stop=_stop_with_guest,
                                  on_publish=_published, monitor=monitor)
    except UmlpyError:
        if vfs is not None and not args.state_dir:
            from umlpy import review

            review.remove(os.fsdecode(vfs.state_dir))
        raise
    except Exception as e:  # fail closed: the tracer has killed the guest
        logging.getLogger("umlpy").debug("internal error", exc_info=True)
        raise UmlpyError(f"umlpy: internal error: {e}; the guest was killed", EXIT_INTERNAL) from None
    result = dataclasses.replace(result, profile=profile.name)
    _write_reports(args, result)
    if not args.quiet:
        _summary(result)
    if args.audit:
        _audit(args, argv, result)
    if result.state_dir is not None:
        _keep_or_drop(args, result)
    if result.limit is not None:
        sys.stderr.write(f"umlpy: {result.limit} limit reached; the guest was killed\n")
        return EXIT_LIMIT
    if result.signal is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        reraise_signal(result.signal)
        return 128 + result.signal
    return result.exit_code if result.exit_code is not None else EXIT_INTERNAL


def _status_delay() -> float:
    """Seconds before the live status appears: UMLPY_STATUS_DELAY (tests, demos) or umlpy.status.DELAY."""
    from umlpy import status

    raw = os.environ.get("UMLPY_STATUS_DELAY")
    if raw is None:
        return status.DELAY
    try:
        value = float(raw)
    except ValueError:
        raise UmlpyError(f"umlpy: UMLPY_STATUS_DELAY={raw!r}: not a number of seconds", EXIT_USAGE) from None
    if not value >= 0:
        raise UmlpyError(f"umlpy: UMLPY_STATUS_DELAY={raw!r}: must not be negative", EXIT_USAGE)
    return value


def _write_reports(args: argparse.Namespace, result: RunResult) -> None:
    def html() -> str:
        from umlpy import report  # html and its entity tables: only for --report-html

        return report.to_html(result.to_dict())

    for path, render in ((args.report, result.to_json), (args.report_html, html)):
        if not path:
            continue
        try:
            with open(path, "w") as f:
                f.write(render())
        except OSError as e:
            sys.stderr.write(f"umlpy: cannot write report {path}: {e.strerror}\n")


def _vfs_options(args: argparse.Namespace, argv: list[str], profile: Profile) -> VfsConfig:
    from umlpy import review
    from umlpy.profile import FileRule, plan_files, root_access
    from umlpy.sandbox import DEFAULT_HOSTNAME, new_state_dir, vfs_config
    from umlpy.vfs import paths
    from umlpy.vfs.mounts import Access, BindSpec, parse_bind

    binds = []
    for spec, cow in [(b, False) for b in args.bind] + [(o, True) for o in args.overlay]:
        try:
            b = parse_bind(spec)
            if cow:
                b = BindSpec(b.host, b.guest, Access.COW)
        except ValueError as e:
            raise UmlpyError(f"umlpy: {'--overlay' if cow else '--bind'}: {e}", EXIT_USAGE) from None
        if not os.path.exists(b.host):
            raise UmlpyError(f"umlpy: --bind {spec}: No such file or directory", EXIT_USAGE)
        binds.append(b)
    for g in (*args.tmpfs, *args.hide):
        if not g.startswith("/"):
            raise UmlpyError(f"umlpy: {g}: guest paths must be absolute", EXIT_USAGE)
    if any(os.path.normpath(h) == "/" for h in args.hide):
        raise UmlpyError("umlpy: --hide /: cannot hide the guest root", EXIT_USAGE)
    if args.root is not None and not os.path.isdir(args.root):
        raise UmlpyError(f"umlpy: --root {args.root}: not a directory", EXIT_USAGE)
    # Command-line --write and --hide are file rules after the profile's: last match wins.
    cli_rules = [FileRule("write", os.path.abspath(w)) for w in args.write]
    plan = plan_files((*profile.file_rules, *cli_rules))
    profile_binds = [BindSpec(os.fsencode(os.path.realpath(p)), os.fsencode(os.path.realpath(p)), Access(a))
                     for p, a in plan.binds]
    shadowed = {b.guest for b in binds}
    binds = [b for b in profile_binds if b.guest not in shadowed] + binds
    hidden = list(plan.hidden)
    hidden += [os.path.realpath(h) for h in plan.hidden if os.path.realpath(h) != h]
    # A --bind covers what it is mounted over; then --hide comes last of all.
    hidden = [h for h in hidden if not any(paths.is_within(os.fsencode(h), paths.normalize(b.guest)) for b in binds
                                          if b not in profile_binds)]
    hidden += [h for h in args.hide if h not in hidden]
    if args.state_dir:
        state = os.path.abspath(args.state_dir)
        if os.path.exists(state) and (not os.path.isdir(state) or os.listdir(state)):
            raise UmlpyError(f"umlpy: --state-dir {args.state_dir}: exists and is not an empty directory", EXIT_USAGE)
        os.makedirs(state, mode=0o700, exist_ok=True)
    else:
        state = new_state_dir()
    for v in (args.uid, args.gid):
        if v is not None and not 0 <= v < 2**32 - 1:
            raise UmlpyError(f"umlpy: --uid/--gid: {v} is not a valid id", EXIT_USAGE)
    # The hostname files follow uname under a virtual network (as /etc/hostname
    # does on the host): the guest must not read the host's name back there.
    net = args.net or profile.network
    name = args.hostname or (None if net == "host" else DEFAULT_HOSTNAME)
    synthetic = [("/etc/hostname", name.encode() + b"\n")] if name else []
    cfg = vfs_config(state, root=args.root or "/", uid=args.uid, gid=args.gid, synthetic=synthetic, read_only=args.read_only or root_access(profile) == "read-only",
                     binds=binds, tmpfs=args.tmpfs, hide=hidden, fake_root=args.fake_root or profile.fake_root)
    review.save(cfg, argv)
    return cfg


def _keep_or_drop(args: argparse.Namespace, result: RunResult) -> None:
    from umlpy import review

    assert result.state_dir is not None
    sid = os.path.basename(result.state_dir)
    n = len(result.changes)
    if args.commit and n:
        done = review.commit(review.find(result.state_dir), [])
        for path, why in done.failed:
            sys.stderr.write(f"umlpy: commit: {review.shown(path)}: {why}\n")
        if not args.quiet:
            sys.stderr.write(f"umlpy: committed {len(done.applied)} change(s) to the host\n")
        if not done.failed:
            review.remove(result.state_dir)
        return
    if args.discard or (not n and not args.state_dir):
        review.remove(result.state_dir)
        return
    if not args.quiet:
        sys.stderr.write(
            f"umlpy: {n} change(s) kept in sandbox {sid}: 'umlpy diff {sid}' to review, "
            f"'umlpy commit {sid}' to apply, 'umlpy discard {sid}' to drop\n"
        )


def _review(args: argparse.Namespace) -> int:
    from umlpy import review

    if args.command == "list":
        for k in review.kept():
            try:
                what = f"{len(review.changes(k)):5d} change(s)"
            except UmlpyError as e:
                what = f"unreadable ({e})"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(k.started))
            print(f"{k.sid}  {when}  {what}  {' '.join(k.argv)[:60]}")
        return 0
    if args.command == "discard":
        for sid in args.ids:
            review.discard(review.find(sid))
        return 0
    if args.command == "diff":
        sid = args.id
        if sid is None:
            all_kept = review.kept()
            if not all_kept:
                raise UmlpyError("umlpy: no kept sandboxes", review.EXIT_UNKNOWN)
            sid = max(all_kept, key=lambda k: k.started).sid
        for c in review.changes(review.find(sid)):
            print(review.format_change(c))
        return 0
    done = review.commit(review.find(args.id), args.paths)
    for path in done.applied:
        print(f"applied {review.shown(path)}")
    for path, why in done.failed:
        sys.stderr.write(f"umlpy: commit: {review.shown(path)}: {why}\n")
    return 1 if done.failed else 0


def _summary(result: RunResult) -> None:
    from umlpy.report import summary_lines

    lines = summary_lines(result.to_dict())
    if lines:
        sys.stderr.write("\n".join(lines) + "\n")


def _audited(result: RunResult) -> list[dict[str, object]]:
    """What an audit must allow: the changes left, and every path written on
    the way (temporary files leave no change but still need a writable place)."""
    written: list[dict[str, object]] = [{"path": p} for p in result.written]
    return [*result.changes, *written]


def _audit(args: argparse.Namespace, argv: list[str], result: RunResult) -> None:
    from umlpy.profile import audit_profile, audit_rules

    if args.write_profile:
        try:
            with open(args.write_profile, "w") as f:
                f.write(audit_profile(_audited(result), result.connections, argv))
        except OSError as e:
            sys.stderr.write(f"umlpy: cannot write profile {args.write_profile}: {e.strerror}\n")
            return
    if not args.quiet:
        rules = audit_rules(_audited(result), result.connections)
        shown = ", ".join(rules) if rules else "nothing beyond strict"
        where = f" (written to {args.write_profile})" if args.write_profile else ""
        sys.stderr.write(f"umlpy: audit: the strict profile would need: {shown}{where}\n")


def _gc(args: argparse.Namespace) -> int:
    from umlpy import review

    older = args.older_than if args.older_than is not None or args.max_size is not None else 7 * 86400.0
    removed = review.gc(older_than=older, max_size=args.max_size, dry_run=args.dry_run)
    for k, size in removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {k}  ({size} bytes)")
    return 0


def _profiles(args: argparse.Namespace) -> int:
    from umlpy import profile as profiles

    if args.name is None:
        for name in profiles.names():
            print(f"{name:12s} {profiles.load(name).description}")
        return 0
    try:
        sys.stdout.write(profiles.render(profiles.load(args.name)))
    except profiles.ProfileError as e:
        raise UmlpyError(f"umlpy: {e}", EXIT_USAGE) from None
    return 0


def _published(p: object) -> None:
    """Tell the user where a published guest port is, as soon as the guest listens on it."""
    sys.stderr.write(f"umlpy: published {p}\n")
    sys.stderr.flush()


def _ignore(signum: int, frame: object) -> None:
    pass


_JOB_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def _stop_with_guest(sig: int) -> None:
    """The guest's main process stopped: stop umlpy too, as the shell's job."""
    if sig not in _JOB_STOPS:
        return  # SIGSTOP from elsewhere stops only the guest, as without umlpy
    signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), signal.SIGTSTP)  # returns after the shell's SIGCONT
    finally:
        signal.signal(signal.SIGTSTP, _ignore)


def entry() -> None:
    """Console-script entry: exit without interpreter teardown (it only costs time)."""
    status = main()
    _codecache.save()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(status)


class _SignalForwarder:
    """Forward INT/TERM/HUP/QUIT sent to umlpy by kill(2) to the guest's main process.

    The signals are blocked in every umlpy thread and collected by one thread
    with sigwaitinfo, which tells a kill(2) (si_code SI_USER/SI_QUEUE) from a
    terminal's signal (SI_KERNEL), which the guest already received.
    """

    def __init__(self) -> None:
        self.target: int | None = None
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="umlpy-signals")
        self._thread.start()

    def set_target(self, pid: int) -> None:
        self.target = pid

    def _loop(self) -> None:
        while True:
            info = signal.sigwaitinfo(_FORWARDED)
            if info.si_code in (SI_USER, SI_QUEUE, SI_TKILL) and self.target is not None:
                try:
                    os.kill(self.target, info.si_signo)
                except OSError:
                    pass

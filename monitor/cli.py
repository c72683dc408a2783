"""`ccmon check | run | demo | test-email`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from monitor import runtime_options
from monitor.config import (
    Config,
    ConfigError,
    check_store_folder,
    load_config,
    parse_address,
    parse_zone_name,
    with_overrides,
)
from monitor.config.flags import listen_flag, port_flag, timeout_flag
from monitor.errors import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNKNOWN,
    MonitorError,
)
from monitor.output import write_whole
from monitor.report import exit_status, render_text, write_json_document
from probes.limits import fit_descriptors, for_one_shot
from probes.loop import run as run_loop
from probes.model import ZoneReport
from probes.names import display_name
from probes.sweep import Prober

DEFAULT_CONFIG = "config.yaml"


class _PluginArgumentParser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which Nagios reads as CRITICAL; a plugin says 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def _version() -> str:
    import importlib.metadata  # looked up for --version only

    try:
        return importlib.metadata.version("ccmon")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


# Flag values are range-checked by argparse itself: a bad one ends as a usage error that
# names the flag, exit 3, before anything runs (never an "internal error" traceback).


class _VersionAction(argparse._VersionAction):
    """--version, the version looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        self.version = f"ccmon {_version()}"
        super().__call__(parser, namespace, values, option_string)


# Commands whose flags are defined by their own modules, which import much (the SLA
# report: sqlite3, statistics, the history store): only a command line that may name them
# loads them (see `main`).
_COMMANDS_WITH_OWN_FLAGS = frozenset({"report", "precheck"})


def _parser(full: bool = True) -> argparse.ArgumentParser:
    """The command line. Not `full`: the commands of _COMMANDS_WITH_OWN_FLAGS without their
    flags, for a command line that names another command."""
    parser = _PluginArgumentParser(prog="ccmon", description="Monitor ccTLD name servers.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="probe zones once and report (Nagios-style exit)")
    check.add_argument("zones", nargs="*", help="zones to check (default: the config's zones)")
    check.add_argument("--config", "-c", help=f"config file (default: ./{DEFAULT_CONFIG} if any)")
    check.add_argument(
        "--root",
        action="append",
        metavar="ADDR",
        help="parent server address to ask for delegations (repeatable)",
    )
    check.add_argument(
        "--resolver",
        action="append",
        metavar="ADDR",
        help="resolver for NS names without glue (repeatable; default: system)",
    )
    check.add_argument("--port", type=port_flag, help="port of parent, zone servers and --resolver")
    check.add_argument("--udp-timeout", type=timeout_flag, metavar="SECONDS")
    check.add_argument("--tcp-timeout", type=timeout_flag, metavar="SECONDS")
    check.add_argument("--json", action="store_true", help="print the JSON document instead")
    check.add_argument(
        "-t",
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="overall deadline; past it the plugin says UNKNOWN and names what was pending",
    )

    check_config = commands.add_parser(
        "check-config", help="validate a config file and exit (0 valid, 3 invalid)"
    )
    check_config.add_argument("file", nargs="?", default=DEFAULT_CONFIG)

    run = commands.add_parser("run", help="monitor continuously; serve metrics and status page")
    runtime_options.add_service_flags(run)
    runtime_options.add_logging_flags(run)
    run.add_argument("--shard", metavar="K/N", help="watch only shard K of N of the zone list")

    health = commands.add_parser(
        "healthcheck", help="exit 0 when the running monitor is healthy (container HEALTHCHECK)"
    )
    runtime_options.add_service_flags(health)

    demo = commands.add_parser("demo", help="start the offline lab world and monitor it")
    demo.add_argument("--port", type=port_flag, help="lab port (default 53 as root, else 5300)")
    demo.add_argument("--listen", type=listen_flag, metavar="HOST:PORT",
                      help="web listen address (127.0.0.1:9153)")
    runtime_options.add_logging_flags(demo)

    if full:
        from monitor.sla.command import add_parser as add_report_parser  # ccmon report

        add_report_parser(commands)
    else:
        commands.add_parser("report")

    precheck = commands.add_parser(
        "precheck", help="probe a proposed delegation against IANA's technical checks"
    )
    if full:
        from monitor.precheck import add_arguments as add_precheck_arguments

        add_precheck_arguments(precheck)

    test_email = commands.add_parser("test-email", help="send one test message and report")
    test_email.add_argument("--config", "-c", default=DEFAULT_CONFIG)
    test_email.add_argument("--to", action="append", help="recipient (default: the config's)")
    return parser


def _load_for_check(args: argparse.Namespace) -> Config:
    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    config = load_config(path) if path else Config(zones=())
    zones = config.zones
    if args.zones:
        try:
            zones = tuple(dict.fromkeys(parse_zone_name(z) for z in args.zones))
        except ValueError as exc:
            raise ConfigError(f"zone on the command line: {exc}") from None
    if not zones:
        raise ConfigError("no zones to check: name them on the command line or in the config")
    try:
        roots = tuple(parse_address(a) for a in args.root) if args.root else None
        resolvers = tuple(parse_address(a) for a in args.resolver) if args.resolver else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    config = with_overrides(
        config,
        parent_addresses=roots,
        resolver=resolvers,
        port=args.port,
        resolver_port=args.port if resolvers else None,
        udp_timeout=args.udp_timeout,
        tcp_timeout=args.tcp_timeout,
    )
    return replace(config, zones=zones)


# Zones swept at once by a one-shot check: each zone's observations (parsed replies, DNSSEC
# ones among them) live until its report is made, so 309 at once peaked at 137 MB RSS.
CHECK_ZONES_AT_ONCE = 32


async def _sweep_bounded(prober: Prober, zone: str, slots: asyncio.Semaphore) -> ZoneReport:
    async with slots:
        return await prober.sweep(zone)


async def check_zones(config: Config) -> list[ZoneReport]:
    """Sweep every zone of the config once, a bounded number at a time."""
    slots = asyncio.Semaphore(CHECK_ZONES_AT_ONCE)
    async with Prober(config.probe) as prober:
        return list(await asyncio.gather(*(_sweep_bounded(prober, zone, slots)
                                           for zone in config.zones)))


class DeadlineReached(MonitorError):
    """`--timeout` passed before every zone was swept."""

    exit_code = EXIT_UNKNOWN

    def __init__(self, after: float, pending: list[str]):
        super().__init__(f"deadline reached after {after:.2f} s")
        self.after = after
        self.pending = pending


async def check_zones_within(config: Config, deadline: float | None) -> list[ZoneReport]:
    """check_zones, bounded by an overall deadline in seconds (None: the probe timeouts')."""
    if deadline is None:
        return await check_zones(config)
    started = time.monotonic()
    async with Prober(config.probe) as prober:
        slots = asyncio.Semaphore(CHECK_ZONES_AT_ONCE)
        tasks = {zone: asyncio.ensure_future(_sweep_bounded(prober, zone, slots))
                 for zone in config.zones}
        await asyncio.wait(tasks.values(), timeout=deadline)
        pending = [zone for zone, task in tasks.items() if not task.done()]
        if pending:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise DeadlineReached(time.monotonic() - started, pending)
        return [task.result() for task in tasks.values()]


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a one-shot check, back as it was afterwards.
    In a check of the 309 ccTLDs it ran ~130 times over up to a million live objects
    (replies, observations, reports) and found 20-50 objects in cycles in all: 0.4-0.6
    CPU-s on the standard loop, 0.1-0.3 of ~3.9 on uvloop, for the same peak RSS either
    way. Reference counting frees the rest as before; the check ends, and whatever cycles
    it made go with the process."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def cmd_check(args: argparse.Namespace) -> int:
    """`ccmon check`: sweep the zones once and print a plugin report; exit status per Nagios."""
    config = _load_for_check(args)
    if args.timeout is not None and not (0 < args.timeout < 86400):
        print("ccmon: -t/--timeout: must be between 0 and 86400 seconds", file=sys.stderr)
        return EXIT_CONFIG
    config = replace(config, probe=for_one_shot(fit_descriptors(config.probe)[0]))
    with collector_paused():
        return _check_and_report(args, config)


def _check_and_report(args: argparse.Namespace, config: Config) -> int:
    try:
        reports = run_loop(check_zones_within(config, args.timeout), prefer_uvloop=True)
    except DeadlineReached as exc:
        names = ", ".join(display_name(z) for z in exc.pending)
        print(f"CCMON UNKNOWN - {exc}; still pending: {len(exc.pending)} zone(s): {names}")
        return exc.exit_code
    except Exception:  # a bug must still give the plugin's UNKNOWN, with the traceback
        traceback.print_exc()
        print("ccmon: internal error while checking; the traceback is above", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.json:
        write_json_document(reports, sys.stdout)
    else:
        write_whole(render_text(reports, config.probe), sys.stdout)
    return exit_status(reports)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Like `promtool check config`: load and validate, say what was found, exit 0 or 3.
    The web-config file it names (TLS, basic auth) is checked too, as `ccmon run` would."""
    config = load_config(args.file)
    web = ""
    if config.web.web_config_file:
        from monitor.config.webconfig import load_web_config

        security = load_web_config(config.web.web_config_file)
        web = f", web config {config.web.web_config_file} ({security.scheme}, " \
              f"{len(security.users)} user(s))"
    print(f"{args.file}: valid: {len(config.zones)} zone(s), sweep every "
          f"{config.schedule.interval:g} s, listen {config.web.listen}{web}")
    return EXIT_OK


def _service_config(args: argparse.Namespace) -> Config:
    """The config of `ccmon run` and `ccmon healthcheck`: file, then environment, then flags."""
    config = load_config(runtime_options.config_path(args))
    return runtime_options.apply_service_overrides(config, args)


def cmd_run(args: argparse.Namespace) -> int:
    """`ccmon run`: the long-running monitor (of one shard, when --shard is given)."""
    runtime_options.configure_logging(args)
    config = _service_config(args)
    if args.shard:
        from monitor.sharding import apply_shard

        config = apply_shard(config, args.shard)
    check_store_folder(config)
    from monitor import service

    return service.run(replace(config, probe=fit_descriptors(config.probe)[0]))


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """`ccmon healthcheck`, the container's HEALTHCHECK: 0 when the monitor is healthy, else 1."""
    from monitor import healthcheck

    try:
        config = _service_config(args)
        print(f"healthy: {healthcheck.check(config)}")
        return EXIT_OK
    except (ConfigError, ValueError, healthcheck.Unhealthy) as exc:  # bad config: unhealthy
        print(f"unhealthy: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def cmd_demo(args: argparse.Namespace) -> int:
    """`ccmon demo`: the monitor watching the lab's demo world on loopback."""
    runtime_options.configure_logging(args)
    from monitor import demo

    return demo.run_demo(args.port, args.listen or demo.DEMO_LISTEN)


def cmd_test_email(args: argparse.Namespace) -> int:
    """`ccmon test-email`: send one test message through the configured SMTP server."""
    config = load_config(args.config)
    from monitor.alerts import mailer

    return mailer.send_test_email(config, args.to)


def cmd_report(args: argparse.Namespace) -> int:
    """`ccmon report`: the SLA report over the stored history."""
    from monitor.sla import command

    return command.run(args)


def cmd_precheck(args: argparse.Namespace) -> int:
    """`ccmon precheck`: judge a proposed delegation before it is made."""
    from monitor.precheck import cmd_precheck as run_precheck

    return run_precheck(args)


COMMANDS = {
    "check": cmd_check,
    "check-config": cmd_check_config,
    "healthcheck": cmd_healthcheck,
    "run": cmd_run,
    "demo": cmd_demo,
    "test-email": cmd_test_email,
    "report": cmd_report,
    "precheck": cmd_precheck,
}


def main(argv: Sequence[str] | None = None) -> int:
    """The `ccmon` entry point. Every error ccmon expects (a bad config or flag, a store it
    cannot open, ...) reaches here as a MonitorError: one line, and the exit status its
    kind names in the one table of monitor.errors."""
    words = sys.argv[1:] if argv is None else list(argv)
    # The command is the first word that is not an option (ccmon's own options take no
    # value); an unknown one, or none (ccmon --help), gets the full command line.
    command = next((word for word in words if not word.startswith("-")), None)
    full = command not in COMMANDS or command in _COMMANDS_WITH_OWN_FLAGS
    args = _parser(full).parse_args(words)
    try:
        return COMMANDS[args.command](args)
    except MonitorError as exc:
        print(f"ccmon: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

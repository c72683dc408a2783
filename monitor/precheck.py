"""`ccmon precheck ZONE --ns NAME[=ADDR,...] ... [--ds "..."] [--file proposal.yaml]`.

Everything the user gives is parsed and checked first; bad input exits 3 (UNKNOWN) with
the offending argument named, before any query is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
import traceback
from pathlib import Path

from monitor.config import parse_address
from monitor.config.flags import port_flag, timeout_flag
from monitor.output import write_whole
from monitor.precheck_report import exit_code, judge, render, to_json
from monitor.report import EXIT_UNKNOWN
from probes.precheck.probe import probe_proposal
from probes.precheck.proposal import Proposal, ProposalError, build, load_file
from probes.precheck.referral import QNAME_OCTETS
from probes.settings import ProbeSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `ccmon precheck` arguments to its subparser."""
    parser.add_argument("zone", nargs="?", help="the zone (default: the file's `zone:`)")
    parser.add_argument("--ns", action="append", default=[], metavar="NAME[=ADDR,...]",
                        help="a proposed name server and its glue (repeatable)")
    parser.add_argument("--ds", action="append", default=[], metavar='"TAG ALG TYPE DIGEST"',
                        help="a proposed DS record (repeatable)")
    parser.add_argument("--file", "-f", help="a YAML proposal: zone, ns, ds")
    parser.add_argument("--root", action="append", metavar="ADDR",
                        help="parent server asked for the current DS set (repeatable)")
    parser.add_argument("--resolver", action="append", metavar="ADDR",
                        help="resolver for NS names outside the zone (default: system)")
    parser.add_argument("--port", type=port_flag, help="port of every server asked")
    parser.add_argument("--udp-timeout", type=timeout_flag, metavar="SECONDS")
    parser.add_argument("--tcp-timeout", type=timeout_flag, metavar="SECONDS")
    parser.add_argument("--no-ipv6", action="store_true",
                        help="do not query IPv6 addresses (they stay unmeasured)")
    parser.add_argument("--allow-private", action="store_true",
                        help="accept private and loopback addresses (labs, tests)")
    parser.add_argument("--asn-table", metavar="FILE",
                        help="'PREFIX ASN' lines for the network diversity check")
    parser.add_argument("--qname-octets", type=int, default=QNAME_OCTETS, metavar="N",
                        help=f"query name length for the referral size (default {QNAME_OCTETS})")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead")


def settings_from(args: argparse.Namespace) -> ProbeSettings:
    """Probe settings from the flags; ProposalError for a bad value."""
    values: dict[str, object] = {}
    for flag, key in (("--port", "port"), ("--udp-timeout", "udp_timeout"),
                      ("--tcp-timeout", "tcp_timeout")):
        value = getattr(args, key)
        if value is not None:
            if value <= 0:
                raise ProposalError(f"{flag}: must be greater than 0")
            values[key] = value
    try:
        if args.root:
            values["parent_addresses"] = tuple(parse_address(a) for a in args.root)
        if args.resolver:
            values["resolver"] = tuple(parse_address(a) for a in args.resolver)
            if args.port:
                values["resolver_port"] = args.port
    except ValueError as exc:
        raise ProposalError(f"--root/--resolver: {exc}") from None
    if not 1 <= args.qname_octets <= 255:
        raise ProposalError("--qname-octets: must be between 1 and 255")
    return ProbeSettings(ipv6=not args.no_ipv6, **values)  # type: ignore[arg-type]


def load_asn_table(path: str) -> dict[str, int]:
    """'PREFIX ASN' per line ('#' comments); ASN as 64500 or AS64500. Never fetched."""
    table: dict[str, int] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProposalError(f"--asn-table {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            if len(words) != 2:
                raise ValueError
            prefix = str(ipaddress.ip_network(words[0], strict=False))
            asn = int(words[1].upper().removeprefix("AS"))
        except ValueError:
            raise ProposalError(f"--asn-table {path}:{number}: expected 'PREFIX ASN', got "
                                f"{line.strip()!r}") from None
        table[prefix] = asn
    return table


def proposal_from(args: argparse.Namespace) -> Proposal:
    """The proposal from the flags and the --file proposal, if any."""
    file = load_file(args.file) if args.file else None
    return build(args.zone, args.ns, args.ds, file)


def cmd_precheck(args: argparse.Namespace) -> int:
    """`ccmon precheck`: probe and judge a proposed delegation; exit status per Nagios."""
    try:
        proposal = proposal_from(args)
        settings = settings_from(args)
        asn_table = load_asn_table(args.asn_table) if args.asn_table else {}
    except ProposalError as exc:
        print(f"ccmon precheck: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        run = asyncio.run(probe_proposal(proposal, settings, allow_private=args.allow_private,
                                         asn_table=asn_table, qname_octets=args.qname_octets))
        report, verdict = judge(run)
    except Exception:  # a bug must still give the plugin's UNKNOWN, with the traceback
        traceback.print_exc()
        print("ccmon precheck: internal error; the traceback is above", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.json:
        write_whole(json.dumps(to_json(report, verdict, run.evidence), indent=2,
                               ensure_ascii=False) + "\n", sys.stdout)
    else:
        write_whole(render(report, verdict, settings), sys.stdout)
    return exit_code(report, verdict)

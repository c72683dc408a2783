"""The further queries (observe side, with a recording fake engine), the per-address facts
in the report, and the report's new fields in JSON."""

import asyncio
import dataclasses

import dns.edns
import dns.flags
import dns.message
import pytest

from probes import labels
from probes.model import (
    FailureKind,
    Observation,
    Question,
    ServerStatus,
    Transport,
    ZoneReport,
)
from probes.observe import EXTRA_PROBES
from probes.observe_further import build_query, further_queries, wanted_queries
from probes.settings import ProbeSettings
from probes.summarise import address_facts, server_statuses
from tests.unit.builders import ZONE, delegation, evidence, healthy, obs
from tests.unit.builders_extra import NOW, answer, extra, signed_server, soa_rrset

ALL = [labels.SOA_PLAIN, labels.DNSKEY_DO, labels.SOA_DO, labels.SOA_EDNS1, labels.SOA_OPTION,
       labels.SOA_NSID, labels.AXFR, labels.RECURSION]


class RecordingEngine:
    """Answers every question at once, from a table of failures; records what was asked."""

    def __init__(self, settings=None, silent=()):
        self.settings = settings or ProbeSettings()
        self.silent = set(silent)
        self.asked = []

    async def ask(self, nameserver, address, qname, rdtype, transport, *, port=None, query=None,
                  variant=""):
        # Recorded by the further query it is: the label whose built message was sent (the
        # engine itself sees the record type only).
        label = next(label for label in (*ALL, labels.DS_DO) if build_query(
            label, ZONE, self.settings.edns_buffer)[3] is query)
        assert rdtype == build_query(label, ZONE, self.settings.edns_buffer)[1]
        assert variant == label
        self.asked.append((nameserver, address, qname, label, transport, query))
        question = Question(qname, rdtype, variant)
        if address in self.silent:
            return Observation(nameserver, address, transport, question, NOW,
                               failure=FailureKind.TIMEOUT)
        return Observation(nameserver, address, transport, question, NOW, rtt=0.01,
                           reply=answer(qname, "SOA"))


def test_the_probe_is_listed_once():
    import probes.observe_further as module

    assert EXTRA_PROBES.count(module.further_queries) == 1


def test_all_queries_when_every_check_is_on():
    assert wanted_queries((), responding=True) == ALL


def test_silent_address_only_gets_the_query_without_edns():
    assert wanted_queries((), responding=False) == [labels.SOA_PLAIN]


@pytest.mark.parametrize(("disabled", "missing"), [
    ({"SEC01"}, {labels.AXFR}),
    ({"SEC02"}, {labels.RECURSION}),
    ({"NSID01"}, {labels.SOA_NSID}),
    ({"EDNS01"}, {labels.SOA_PLAIN, labels.SOA_EDNS1, labels.SOA_OPTION}),
    ({"DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04"}, {labels.DNSKEY_DO}),
    ({"DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04", "EDNS01"},
     {labels.DNSKEY_DO, labels.SOA_DO, labels.SOA_PLAIN, labels.SOA_EDNS1, labels.SOA_OPTION}),
    ({"DNSSEC03"}, set()),  # the other DNSSEC checks still need the material
])
def test_disabled_checks_send_no_queries(disabled, missing):
    assert set(ALL) - set(wanted_queries(disabled, responding=True)) == missing


def test_query_wire_details():
    def built(label):
        qname, rdtype, transport, query = build_query(label, "fr.", 1232)
        return qname, rdtype, transport, dns.message.from_wire(query.wire)

    qname, rdtype, transport, plain = built(labels.SOA_PLAIN)
    assert (qname, rdtype, transport, plain.edns) == ("fr.", "SOA", Transport.UDP, -1)
    assert built(labels.SOA_EDNS1)[3].edns == 1
    option = built(labels.SOA_OPTION)[3]
    assert [o.otype for o in option.options] == [labels.UNKNOWN_OPTION_CODE]
    assert built(labels.SOA_DO)[3].ednsflags & dns.flags.DO
    assert [o.otype for o in built(labels.SOA_NSID)[3].options] == [dns.edns.OptionType.NSID]
    qname, rdtype, _t, rd = built(labels.RECURSION)
    assert (qname, rdtype, bool(rd.flags & dns.flags.RD)) == (".", "SOA", True)
    for label in ALL:
        if label != labels.RECURSION:
            assert not built(label)[3].flags & dns.flags.RD, label
    assert built(labels.DNSKEY_DO)[:3] == ("fr.", "DNSKEY", Transport.UDP)
    assert built(labels.DS_DO)[1] == "DS" and built(labels.DS_DO)[3].ednsflags & dns.flags.DO
    assert built(labels.AXFR)[1:3] == ("AXFR", Transport.TCP)
    with pytest.raises(ValueError):
        built("SOA/nonsense")


def run(engine, core, servers, parents=("198.51.100.1", "198.51.100.2")):
    deleg = dataclasses.replace(delegation(servers), parent_addresses=tuple(parents))
    return asyncio.run(further_queries(deleg, core, engine))


def test_per_address_queries_and_the_parent_ds():
    servers = {"ns1.nic.fr.": ["192.0.2.1"], "ns2.nic.fr.": ["192.0.2.2"]}
    core = healthy("ns1.nic.fr.", "192.0.2.1") + [
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.UNREACHABLE),
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.UNREACHABLE,
            transport=Transport.TCP)]
    engine = RecordingEngine()
    observations = run(engine, core, servers)
    asked = [(a[1], a[3]) for a in engine.asked]
    assert [label for address, label in asked if address == "192.0.2.1"] == ALL
    assert not [1 for address, _ in asked if address == "192.0.2.2"]  # port refused: skip
    assert ("198.51.100.1", labels.DS_DO) in asked
    assert ("198.51.100.2", labels.DS_DO) not in asked  # the first parent answered
    copies = [o for o in observations if o.question.variant == labels.SOA_EDNS0]
    assert {o.question.rdtype for o in observations} <= {"SOA", "DNSKEY", "DS", "AXFR"}
    assert [o.address for o in copies] == ["192.0.2.1", "192.0.2.2"]  # no query: core copies
    assert len(observations) == len(ALL) + 1 + len(copies)
    parent_obs = [o for o in observations if o.question.variant == labels.DS_DO]
    assert parent_obs[0].nameserver == labels.PARENT


def test_timed_out_address_gets_the_plain_query_and_the_next_parent_is_tried():
    servers = {"ns1.nic.fr.": ["192.0.2.1"]}
    core = [obs("ns1.nic.fr.", "192.0.2.1", failure=FailureKind.TIMEOUT),
            obs("ns1.nic.fr.", "192.0.2.1", failure=FailureKind.TIMEOUT, transport=Transport.TCP)]
    engine = RecordingEngine(silent={"198.51.100.1"})
    run(engine, core, servers, parents=("198.51.100.1", "198.51.100.2", "198.51.100.3"))
    asked = [(a[1], a[3]) for a in engine.asked]
    assert asked.count(("192.0.2.1", labels.SOA_PLAIN)) == 1
    # It answered without EDNS: the EDNS variants follow, so that dropping EDNS shows on all
    # of them, not on one lost datagram.
    assert [label for a, label in asked if a == "192.0.2.1"] == [
        labels.SOA_PLAIN, labels.SOA_EDNS1, labels.SOA_OPTION, labels.SOA_DO]
    assert [a for a, label in asked if label == labels.DS_DO] == ["198.51.100.1", "198.51.100.2"]


def test_timed_out_address_silent_without_edns_too_gets_nothing_more():
    servers = {"ns1.nic.fr.": ["192.0.2.1"]}
    core = [obs("ns1.nic.fr.", "192.0.2.1", failure=FailureKind.TIMEOUT),
            obs("ns1.nic.fr.", "192.0.2.1", failure=FailureKind.TIMEOUT, transport=Transport.TCP)]
    engine = RecordingEngine(silent={"192.0.2.1"})
    run(engine, core, servers)
    assert [a[3] for a in engine.asked if a[1] == "192.0.2.1"] == [labels.SOA_PLAIN]


def test_all_dnssec_checks_off_means_no_parent_query():
    settings = ProbeSettings(disabled_checks=frozenset(
        {"DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04"}))
    engine = RecordingEngine(settings)
    run(engine, healthy("ns1.nic.fr.", "192.0.2.1"), {"ns1.nic.fr.": ["192.0.2.1"]})
    assert labels.DS_DO not in [a[3] for a in engine.asked]


# --- the per-address facts in the report ------------------------------------------------------

def test_facts_on_the_udp_row_only():
    ns = ("ns1.nic.fr.", "192.0.2.1")
    observations = healthy(*ns) + signed_server(*ns) + [
        extra(labels.SOA_NSID, *ns, msg=answer("fr.", "SOA", soa_rrset(),
                                               options=[dns.edns.NSIDOption(b"par-2")])),
        extra(labels.SOA_PLAIN, *ns, msg=answer("fr.", "SOA", soa_rrset(), edns=-1)),
        extra(labels.AXFR, *ns, failure=FailureKind.NETWORK_ERROR, transport=Transport.TCP),
        extra(labels.RECURSION, *ns, qname=".", msg=answer(".", "SOA", aa=False, ra=False,
                                                           rcode=5)),
    ]
    ev = evidence(observations)
    rows = server_statuses(ev, facts=address_facts(ev))
    udp, tcp = rows
    assert (udp.transport, tcp.transport) == (Transport.UDP, Transport.TCP)
    assert udp.rrsig_expires_at == NOW + 14 * 86400
    assert udp.dnssec_valid is True
    assert udp.nsid == "par-2"
    assert udp.axfr_open is False and udp.recursion_open is False
    assert udp.edns["plain"] == "ok"
    assert tcp == server_statuses(ev)[1]  # the TCP row keeps its defaults


def test_core_checks_alone_give_no_facts_and_rows_of_defaults():
    """Without further queries the rows carry the defaults; one further answer (an AXFR
    refused by a closed connection) and the facts are back, defaults for the rest."""
    ns = ("ns1.nic.fr.", "192.0.2.1")
    core = evidence(healthy(*ns))
    assert address_facts(core) is None
    udp, _tcp = server_statuses(core, facts=address_facts(core))
    defaults = ServerStatus(*ns, Transport.UDP, udp.answered, udp.authoritative, udp.rtt,
                            udp.serial, within_threshold=udp.within_threshold)
    assert udp == defaults and udp.authoritative and udp.serial is not None
    one = evidence(healthy(*ns) + [
        extra(labels.AXFR, *ns, failure=FailureKind.NETWORK_ERROR, transport=Transport.TCP)])
    facts = address_facts(one)
    assert facts is not None and facts(ns) == {
        "rrsig_expires_at": None, "dnssec_valid": None, "nsid": "", "edns": {},
        "axfr_open": False, "recursion_open": None}
    assert server_statuses(one, facts=facts)[0] == dataclasses.replace(defaults, axfr_open=False)


def test_report_round_trip_and_old_documents_still_load():
    status = ServerStatus("ns1.nic.fr.", "192.0.2.1", Transport.UDP, True, True, 0.01, 5,
                          rrsig_expires_at=NOW, dnssec_valid=False, nsid="x",
                          edns={"do": "no-do"}, axfr_open=True, recursion_open=None)
    report = ZoneReport("fr", NOW, 0.1, (status,), (), dnssec="bogus")
    data = report.to_dict()
    assert data["dnssec"] == "bogus" and data["servers"][0]["edns"] == {"do": "no-do"}
    assert ZoneReport.from_dict(data) == report
    old = {k: v for k, v in data.items() if k != "dnssec"}
    old["servers"] = [{k: v for k, v in data["servers"][0].items()
                       if k not in ("rrsig_expires_at", "dnssec_valid", "nsid", "edns",
                                    "axfr_open", "recursion_open")}]
    loaded = ZoneReport.from_dict(old)
    assert loaded.dnssec == "unknown" and loaded.servers[0].nsid == ""
    assert loaded.servers[0].rrsig_expires_at is None and loaded.servers[0].edns == {}

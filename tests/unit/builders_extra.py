"""Hand-made observations for the further checks: signed answers, keys made in the test."""

from __future__ import annotations

import functools

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.RRSIG import RRSIG

from probes import labels
from probes.model import FailureKind, Observation, Question, Transport
from tests.unit.builders import SOA_TEXT, ZONE

NOW = 1_800_000_000.0  # 2027-01-15, the "sent_at" of every observation here
DAY = 86400
KSK_FLAGS = 257
ZSK_FLAGS = 256


@functools.cache
def key_pair(name: str = "ksk", algorithm: str = "ED25519", bits: int = 2048,
             ) -> tuple[object, DNSKEY]:
    """A private key and its DNSKEY, made once per name (cached: RSA generation is slow).
    Names starting with "zsk" get the flags of a zone-signing key, others those of a KSK."""
    flags = ZSK_FLAGS if name.startswith("zsk") else KSK_FLAGS
    if algorithm == "ED25519":
        private: object = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ECDSAP256SHA256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    dnskey = dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags)  # type: ignore[attr-defined]
    return private, dnskey


def soa_rrset(serial: int = 2026112701, *, zone: str = ZONE,
              soa: str | None = None) -> dns.rrset.RRset:
    return dns.rrset.from_text(zone, 3600, "IN", "SOA", soa or SOA_TEXT.format(serial=serial))


def dnskey_rrset(*keys: DNSKEY, zone: str = ZONE) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    rrset.ttl = 3600
    for key in keys:
        rrset.add(key)
    return rrset


def sign(rrset: dns.rrset.RRset, *signers: str, inception: float = NOW - DAY,
         expiration: float = NOW + 14 * DAY, zone: str = ZONE) -> dns.rrset.RRset:
    """An RRSIG RRset over `rrset`, one signature per named key of key_pair()."""
    sigs = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, dns.rdatatype.RRSIG, rrset.rdtype)
    sigs.ttl = rrset.ttl
    for signer in signers:
        private, dnskey = key_pair(signer)
        sigs.add(dns.dnssec.sign(rrset, private, dns.name.from_text(zone), dnskey,  # type: ignore[arg-type]
                                 inception=int(inception), expiration=int(expiration)))
    return sigs


def fake_rrsig(covered: str = "SOA", *, inception: float, expiration: float,
               key_tag: int = 12345, zone: str = ZONE) -> RRSIG:
    """An RRSIG with the given times and a meaningless signature (for expiry arithmetic)."""
    return RRSIG(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.from_text(covered),
                 15, 1, 3600, int(expiration), int(inception), key_tag,
                 dns.name.from_text(zone), b"\x00" * 64)


def rrsig_rrset(covered: str, *sigs: RRSIG, zone: str = ZONE) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.RRSIG,
                            dns.rdatatype.from_text(covered))
    for sig in sigs:
        rrset.add(sig)
    return rrset


def answer(qname: str, rdtype: str, *rrsets: dns.rrset.RRset, rcode: int = dns.rcode.NOERROR,
           aa: bool = True, ra: bool = False, edns: int = 0, do: bool = False,
           options: list[dns.edns.Option] | None = None) -> dns.message.Message:
    """A reply with the given answer RRsets; edns=-1 for a reply without OPT."""
    query = dns.message.make_query(qname, rdtype)
    msg = dns.message.make_response(query)
    msg.flags = dns.flags.QR | (dns.flags.AA if aa else 0) | (dns.flags.RA if ra else 0)
    msg.use_edns(edns if edns >= 0 else False, ednsflags=dns.flags.DO if do else 0,
                 payload=1232, options=options)
    msg.set_rcode(rcode)
    for rrset in rrsets:
        msg.answer.append(rrset)
    return msg


def ds_for(key_name: str = "ksk", digest: str = "SHA256", zone: str = ZONE) -> DS:
    return dns.dnssec.make_ds(zone, key_pair(key_name)[1], digest,
                              policy=dns.dnssec.allow_all_policy)


def ds_reply(*records: DS, zone: str = ZONE) -> dns.message.Message:
    rrset = dns.rrset.RRset(dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.DS)
    for ds in records:
        rrset.add(ds)
    return answer(zone, "DS", *([rrset] if records else []), do=True)


def extra(label: str, nameserver: str = "ns1.nic.fr.", address: str = "192.0.2.1", *,
          msg: dns.message.Message | None = None, failure: FailureKind | None = None,
          sent_at: float = NOW, qname: str = ZONE,
          transport: Transport = Transport.UDP) -> Observation:
    """An observation of one further query, recorded under its label."""
    return Observation(
        nameserver=nameserver, address=address, transport=transport,
        question=Question(qname, label.split("/")[0], label), sent_at=sent_at,
        rtt=0.02 if msg is not None else None, reply=msg,
        failure=failure if msg is None else None,
    )


def parent(msg: dns.message.Message | None, *, failure: FailureKind | None = None,
           address: str = "198.51.100.1") -> Observation:
    return extra(labels.DS_DO, labels.PARENT, address, msg=msg,
                 failure=failure or (None if msg else FailureKind.TIMEOUT))


def signed_server(nameserver: str, address: str, *, keys: tuple[str, ...] = ("ksk", "zsk"),
                  dnskey_signers: tuple[str, ...] = ("ksk",),
                  soa_signers: tuple[str, ...] = ("zsk",), serial: int = 2026112701,
                  **times: float) -> list[Observation]:
    """DNSKEY and SOA answers (DO=1) of one address, signed as told."""
    dnskeys = dnskey_rrset(*(key_pair(k)[1] for k in keys))
    soa = soa_rrset(serial)
    dnskey_msg = answer(ZONE, "DNSKEY", dnskeys, *([sign(dnskeys, *dnskey_signers, **times)]
                                                     if dnskey_signers else []), do=True)
    soa_msg = answer(ZONE, "SOA", soa, *([sign(soa, *soa_signers, **times)]
                                         if soa_signers else []), do=True)
    return [extra(labels.DNSKEY_DO, nameserver, address, msg=dnskey_msg),
            extra(labels.SOA_DO, nameserver, address, msg=soa_msg)]

"""DNSSEC for lab zones: keys made at start, zones signed with fixed signature times.

A zone with a ``dnssec:`` entry in its scenario gets a KSK (flags 257) and a ZSK (flags
256), made fresh for each lab run; its master file is signed (NSEC, RRSIG over every
authoritative RRset, the DNSKEY RRset by the KSK, the rest by the ZSK) before any server
loads it, and again on every ``bump_serial``, with the same inception and expiration so
that only the SOA's signature changes. The parent's DS goes to the lab root (``ds: match``),
or names a key the zone does not have (``ds: mismatch``), or is left out (``ds: none``).

The fault server re-signs its own copy of a zone with other times for the
``expired-signatures`` and ``expiring-signatures`` faults (a stale secondary still serving
what the signer gave it days ago): it reads the private keys this module writes as PEM.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from lab.errors import ScenarioError

#: algorithm mnemonic -> how to make a private key for it
_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "ED25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "ECDSAP256SHA256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "RSASHA256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}
DS_MODES = ("match", "mismatch", "none")
DEFAULTS: dict[str, Any] = {"algorithm": "ED25519", "ds": "match", "validity": 20 * 86400,
                            "inception_offset": 3600}
KSK_FLAGS, ZSK_FLAGS = 257, 256
#: what the fault server's re-signed copies keep: the validity a signer typically gives
STALE_VALIDITY = 14 * 86400


def dnssec_spec(raw: Any, where: str) -> dict[str, Any] | None:
    """Validate a zone's ``dnssec:`` entry (``true`` or a mapping); None when unsigned."""
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: dnssec must be true or a mapping")
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ScenarioError(f"{where}: dnssec: unknown key(s) {sorted(unknown)} "
                            f"(known: {sorted(DEFAULTS)})")
    spec = {**DEFAULTS, **raw}
    if spec["algorithm"] not in _ALGORITHMS:
        raise ScenarioError(f"{where}: dnssec: algorithm {spec['algorithm']!r} is not one of "
                            f"{sorted(_ALGORITHMS)}")
    if spec["ds"] not in DS_MODES:
        raise ScenarioError(f"{where}: dnssec: ds must be one of {DS_MODES}")
    for key in ("validity", "inception_offset"):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise ScenarioError(f"{where}: dnssec: {key} must be a positive number of seconds")
    return spec


@dataclass(frozen=True)
class ZoneKeys:
    """A zone's KSK and ZSK with their DNSKEY records."""

    zone: str
    ksk: Any
    zsk: Any
    ksk_dnskey: DNSKEY
    zsk_dnskey: DNSKEY

    @classmethod
    def generate(cls, zone: str, algorithm: str = "ED25519") -> ZoneKeys:
        ksk, zsk = _ALGORITHMS[algorithm](), _ALGORITHMS[algorithm]()
        return cls.from_private(zone, ksk, zsk, algorithm)

    @classmethod
    def from_private(cls, zone: str, ksk: Any, zsk: Any, algorithm: str) -> ZoneKeys:
        return cls(zone, ksk, zsk,
                   dns.dnssec.make_dnskey(ksk.public_key(), algorithm, flags=KSK_FLAGS),
                   dns.dnssec.make_dnskey(zsk.public_key(), algorithm, flags=ZSK_FLAGS))

    @property
    def pairs(self) -> list[tuple[Any, DNSKEY]]:
        return [(self.ksk, self.ksk_dnskey), (self.zsk, self.zsk_dnskey)]

    def dnskey_records(self, ttl: int = 3600) -> list[str]:
        return [f"@ {ttl} IN DNSKEY {k.to_text()}" for k in (self.ksk_dnskey, self.zsk_dnskey)]

    def ds_record(self, mode: str, ttl: int = 86400) -> str | None:
        """The apex DS record the parent publishes (``mismatch``: of a key nobody serves)."""
        if mode == "none":
            return None
        key = self.ksk_dnskey
        if mode == "mismatch":
            other = _ALGORITHMS[dns.dnssec.algorithm_to_text(key.algorithm)]()
            key = dns.dnssec.make_dnskey(other.public_key(), key.algorithm, flags=KSK_FLAGS)
        ds = dns.dnssec.make_ds(f"{self.zone}.", key, "SHA256")
        return f"@ {ttl} IN DS {ds.to_text()}"

    def write(self, path: Path) -> None:
        """The private keys as PEM in a JSON file, for the fault server (mode 0600)."""
        def pem(key: Any) -> str:
            return key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        algorithm = dns.dnssec.algorithm_to_text(self.ksk_dnskey.algorithm)
        path.touch(mode=0o600)
        path.write_text(json.dumps({"zone": self.zone, "algorithm": algorithm,
                                    "ksk": pem(self.ksk), "zsk": pem(self.zsk)}),
                        encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> ZoneKeys:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        load = serialization.load_pem_private_key
        return cls.from_private(data["zone"], load(data["ksk"].encode(), None),
                                load(data["zsk"].encode(), None), data["algorithm"])


def unsigned_copy(zone: dns.zone.Zone) -> dns.zone.Zone:
    """A copy of `zone` without its RRSIG and NSEC records."""
    out = dns.zone.Zone(zone.origin, zone.rdclass, relativize=zone.relativize)
    with out.writer() as txn:
        for name, rdataset in zone.iterate_rdatasets():
            if rdataset.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC):
                txn.add(name, rdataset)
    return out


def sign(zone: dns.zone.Zone, keys: ZoneKeys, inception: float, expiration: float) -> None:
    """Sign `zone` in place (NSEC; KSK over DNSKEY, ZSK over the rest)."""
    dns.dnssec.sign_zone(zone, keys=keys.pairs, add_dnskey=False, inception=int(inception),
                         expiration=int(expiration), policy=dns.dnssec.allow_all_policy)


def signed_text(text: str, zone: str, keys: ZoneKeys, inception: float,
                expiration: float) -> str:
    """The master file `text` of `zone` (with its DNSKEYs), signed."""
    parsed = dns.zone.from_text(text, origin=dns.name.from_text(zone), relativize=False,
                                check_origin=True)
    parsed = unsigned_copy(parsed)
    sign(parsed, keys, inception, expiration)
    return parsed.to_text(relativize=False) + "\n"


def resigned(zone: dns.zone.Zone, keys: ZoneKeys, expiration: float,
             validity: float = STALE_VALIDITY) -> dns.zone.Zone:
    """A copy of `zone` signed anew with the same keys, signatures ending at `expiration`."""
    out = unsigned_copy(zone)
    sign(out, keys, expiration - validity, expiration)
    return out

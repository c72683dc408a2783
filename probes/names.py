"""Zone names as users type them and as the wire needs them."""

from __future__ import annotations

import dns.exception
import dns.name


class InvalidZoneName(ValueError):
    """The text is not a usable DNS zone name."""


def normalise_zone(text: str) -> str:
    """"FR", "fr.", "中国" → "fr", "xn--fiqs8s": the A-label, lower case, no trailing dot."""
    raw = text.strip()
    if not raw or raw == "." or " " in raw:
        raise InvalidZoneName(f"invalid zone name {text!r}")
    try:
        name = dns.name.from_unicode(raw) if not raw.isascii() else dns.name.from_text(raw)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise InvalidZoneName(f"invalid zone name {text!r}: {exc}") from exc
    return name.to_text(omit_final_dot=True).lower()


def absolute(zone: str) -> str:
    """"fr" → "fr." (the form in questions and owner names)."""
    return zone.rstrip(".") + "."


def display_name(zone: str) -> str:
    """"xn--fiqs8s" → "中国 (xn--fiqs8s)"; ASCII names unchanged."""
    try:
        unicode = dns.name.from_text(zone).to_unicode(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError):
        return zone
    return zone if unicode == zone else f"{unicode} ({zone})"


def unicode_name(zone: str) -> str:
    """"xn--fiqs8s" → "中国"; falls back to the A-label when it cannot be decoded."""
    try:
        return dns.name.from_text(zone).to_unicode(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError):
        return zone

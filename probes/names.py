"""Zone names as users type them and as the wire needs them."""

from __future__ import annotations

import functools

import dns.exception
import dns.name

NAME_TEXTS_MAX = 16_384  # names remembered with their text; then the memo starts afresh
# id(name) -> (name, its text); the name is kept so its id stays its own
_name_texts: dict[int, tuple[dns.name.Name, str]] = {}


def name_text(name: dns.name.Name) -> str:
    """`name.to_text()`, made once per Name object: the reply reader hands out the same
    Name objects for the same owners and targets, and the judges wrote them out again and
    again (dnspython escapes every label of every name on each call)."""
    hit = _name_texts.get(id(name))
    if hit is not None and hit[0] is name:
        return hit[1]
    text = name.to_text()
    if len(_name_texts) >= NAME_TEXTS_MAX:
        _name_texts.clear()
    _name_texts[id(name)] = (name, text)
    return text


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


def normalised_or_none(text: str) -> str | None:
    """normalise_zone(text), or None when the text is no zone name (a web path, say)."""
    try:
        return normalise_zone(text)
    except InvalidZoneName:
        return None


@functools.lru_cache(maxsize=4096)
def unicode_zone(zone: str) -> str:
    """The zone as a reader writes it: U-labels for IDN, no trailing dot ("xn--fiqs8s" →
    "中国"). Label by label: a label that is not a valid A-label (invalid punycode such as
    ``xn--a``, which Python's codec decodes to a different name) stays as sent. Cached: a
    report names each zone several times (summary, block, JSON, metrics, pages)."""
    try:
        labels = [raw for raw in dns.name.from_text(zone).labels if raw]
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return zone
    return ".".join(readable_label(dns.name.Name([raw]).to_text()) for raw in labels) or "."


def readable_label(label: str) -> str:
    """One label as text: its U-label when it is an A-label that round-trips, else as is."""
    if not label.lower().startswith("xn--"):
        return label
    try:
        unicode = dns.name.from_text(label).to_unicode(omit_final_dot=True)
        back = dns.name.from_unicode(unicode).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return label
    return unicode if back.lower() == label.lower() else label


def display_name(zone: str) -> str:
    """"xn--fiqs8s" → "中国 (xn--fiqs8s)"; ASCII names unchanged."""
    unicode = unicode_zone(zone)
    return zone if unicode == zone else f"{unicode} ({zone})"

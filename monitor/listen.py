"""Listen addresses as operators write them: `127.0.0.1:9153`, `[::1]:9153`, `:9153` (every
address, as Go's net.Listen and the Prometheus exporters read it), `0.0.0.0:9153`."""

from __future__ import annotations

import re

_LISTEN = re.compile(r"(\[[0-9a-fA-F:.]*\]|[^:\[\]]*):(\d{1,5})")


def parse_listen(listen: str) -> tuple[str | None, int]:
    """'127.0.0.1:9153' → ('127.0.0.1', 9153); '[::1]:9153' → ('::1', 9153); ':9153' → all."""
    match = _LISTEN.fullmatch(str(listen).strip())
    if not match or int(match.group(2)) > 65535:  # 0: any free port (tests)
        raise ValueError(f"bad listen address {listen!r} (host:port, e.g. 127.0.0.1:9153 or :9153)")
    host = match.group(1).strip("[]") or None
    return host, int(match.group(2))


def local_target(listen: str) -> tuple[str, int]:
    """Where a process on the same host reaches a server that listens on `listen`."""
    host, port = parse_listen(listen)
    if host in (None, "", "0.0.0.0"):
        return "127.0.0.1", port
    if host == "::":
        return "::1", port
    return host, port

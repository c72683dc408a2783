"""HTTP side of the pages: content negotiation, validators, the static files.

The static files (stylesheet, script) are read once from the package and kept in memory
with their gzip form; the pages link them relatively (``static/...``), so ccmon works
behind a reverse proxy under any path prefix.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aiohttp import web

from monitor.web.pages.cache import Page

STATIC_TYPES = {"css": "text/css", "js": "text/javascript"}
STATIC_FILES = ("ccmon.css", "status.js")


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110: "gzip;q=0" refuses it, and
    so does "*;q=0" unless gzip is named)."""
    star = False
    for item in header.split(","):
        token, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        token = token.strip().lower()
        if token in ("gzip", "x-gzip"):
            return q > 0
        if token == "*":
            star = q > 0
    return star


def _not_modified(request: web.Request, etag: str, last_modified: str | None) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None:  # RFC 9110 13.1.2: If-None-Match wins over If-Modified-Since
        tags = [t.strip() for t in match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    since = request.headers.get("If-Modified-Since")
    return last_modified is not None and since is not None and since == last_modified


def respond(request: web.Request, body: bytes, gzipped: bytes, etag: str, content_type: str,
            *, last_modified: str | None = None, cache_control: str = "no-cache") -> web.Response:
    """The body in the encoding the client asked for, or 304 when its copy is current."""
    use_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    if use_gzip:
        body, etag = gzipped, etag[:-1] + '-gz"'
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": cache_control}
    if last_modified:
        headers["Last-Modified"] = last_modified
    if _not_modified(request, etag, last_modified):
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers, content_type=content_type, charset="utf-8")


def page_response(request: web.Request, page: Page) -> web.Response:
    """The cached page as a response, gzip and 304 as the request allows."""
    return respond(request, page.body, page.gzipped, page.etag, "text/html",
                   last_modified=page.last_modified)


@dataclass(frozen=True, slots=True)
class Asset:
    """A static file in both encodings, with its ETag and content type."""
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


@cache
def asset(name: str) -> Asset | None:
    """The static file of this name, or None when it is not one of STATIC_FILES."""
    if name not in STATIC_FILES:
        return None
    body = resources.files("monitor.web").joinpath(f"static/{name}").read_bytes()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    return Asset(body, gzip.compress(body, compresslevel=9), etag,
                 STATIC_TYPES[name.rsplit(".", 1)[1]])


async def static_file(request: web.Request) -> web.Response:
    """aiohttp handler for /static/{name}: 404 for unknown names, cached 5 minutes."""
    found = asset(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    # revalidated at most every 5 min: an upgrade shows its new script soon enough
    return respond(request, found.body, found.gzipped, found.etag, found.content_type,
                   cache_control="max-age=300")

"""``HttpTransport``: batches of entries POSTed to an HTTP log store, and the HTTP side of
every shipping transport that speaks HTTP (OTLP/HTTP uses ``HttpWire`` too).

The client is urllib3 (extra ``http``): it is what ``requests`` stands on, kept by a
busy team, has no dependencies of its own, reuses connections (keep-alive) through a
thread-safe pool, and lets each request carry its own timeout with urllib3's retries
turned off, so that the delivery engine, not the client, decides when to send again.
It is imported when the first transport is made, never by ``import loglayer``.
"""

from __future__ import annotations

import email.utils
import gzip
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._common import describe
from .._validate import check_choice, check_mapping, check_type
from ._delivery import DeliveryTransport, Reject, Retry

__all__ = ["HttpTransport", "HttpWire", "retry_after"]

_MiB = 1 << 20
_COMPRESSIONS = ("gzip", "none")
#: Statuses worth sending again: a timeout, a rate limit, a server that is unwell.
_TRANSIENT = frozenset([408, 429])
#: RFC 9110's token: what a header name and a method are made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date),
    or None when it is absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _urllib3() -> Any:
    try:
        import urllib3
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the HTTP shipping transports need urllib3: pip install 'loglayer[http]'"
        ) from None
    return urllib3


def _check_url(urllib3: Any, url: Any) -> None:
    """``url`` must be an http(s) URL with a host: checked here because urllib3 would
    refuse it at every request, which the engine takes for an outage and retries."""
    check_type("url", url, str, "a str")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    try:
        host = urllib3.util.parse_url(url).host
    except urllib3.exceptions.LocationParseError as exc:
        raise ValueError(f"url is not a valid URL ({exc}), got {url!r}") from None
    if not host:
        raise ValueError(f"url must name a host, got {url!r}")


def _checked_headers(headers: Any) -> dict[str, str]:
    """``headers`` as a dict of names that are tokens and values on one line of
    Latin-1 text: what the HTTP client sends. Checked here because the client would
    refuse another header at every request, which drops every batch."""
    checked = {}
    for name, value in check_mapping("headers", headers).items():
        check_type("headers keys", name, str, "a str")
        check_type(f"headers[{name!r}]", value, str, "a str")
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"headers keys must be HTTP header names (tokens), got {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"headers[{name!r}] must hold no CR, LF or NUL, got {value!r}")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"headers[{name!r}] must be Latin-1 text (HTTP sends header "
                             f"values as such), got {value!r}") from None
        checked[name] = value
    return checked


class HttpWire:
    """One HTTP endpoint as a delivery-engine wire: ``encode`` turns entries into a
    (compressed) body with ``encoder``, ``send`` POSTs it over a kept-alive connection.

    ``check(status, body)``, when given, reads a 2xx answer and returns
    ``(refused, reason)`` for a partial success (OTLP's ``partial_success``,
    Elasticsearch's per-item errors); a 2xx answer is otherwise a full delivery. 408,
    429 and 5xx are transient (``Retry-After`` honoured), other statuses permanent.
    """

    def __init__(self, url: str, *, encoder: Callable[[list], bytes], content_type: str,
                 method: str = "POST", headers: Mapping[str, str] | None = None,
                 compression: str = "gzip",
                 check: Callable[[int, bytes], tuple[int, str]] | None = None) -> None:
        self._urllib3 = _urllib3()
        _check_url(self._urllib3, url)
        check_type("method", method, str, "a str")
        if _TOKEN.fullmatch(method) is None:
            raise ValueError(f"method must be an HTTP method name (a token), got {method!r}")
        check_choice("compression", compression, _COMPRESSIONS)
        extra = {} if headers is None else _checked_headers(headers)
        self.url = url
        self.method = method.upper()
        self.encoder = encoder
        self.compression = compression
        self.check = check
        self.headers = {"Content-Type": content_type, **extra}
        if compression == "gzip":
            self.headers["Content-Encoding"] = "gzip"
        self._pool: Any = None

    def encode(self, entries: list) -> bytes:
        body = self.encoder(entries)
        return gzip.compress(body, compresslevel=5) if self.compression == "gzip" else body

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        urllib3 = self._urllib3
        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False)
        try:
            response = self._pool.request(self.method, self.url, body=payload,
                                          headers=self.headers, retries=False,
                                          timeout=urllib3.Timeout(total=timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Retry(describe(exc)) from None
        status = response.status
        body = response.data or b""
        if 200 <= status < 300:
            return self.check(status, body) if self.check is not None else (0, "")
        text = body[:200].decode("utf-8", "replace")
        if status in _TRANSIENT or status >= 500:
            raise Retry(f"HTTP {status} {text}".rstrip(),
                        retry_after(response.headers.get("Retry-After")))
        raise Reject(f"HTTP {status} {text}".rstrip())

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.clear()

    def after_fork_in_child(self) -> None:
        self._pool = None  # the parent's sockets are the parent's


class HttpTransport(DeliveryTransport):
    """Ships entries in batches to an HTTP endpoint (a log store, a collector).

    ``encoding``: ``"ndjson"`` (the JSON lines loglayer writes, one per entry),
    ``"json-array"``, ``"loki"`` (Grafana Loki's push API; ``labels`` maps Loki label
    names to field names), ``"elasticsearch"`` (the ``_bulk`` API into ``index``; a
    per-item error counts that entry as dropped), or a callable ``encoder(entries) ->
    bytes``. ``headers`` are added to every request (authorization, tenant); ``compression``
    is ``"gzip"`` or ``"none"``.

    Delivery (batching, retries, overflow, the spool, ``stats()``, ``flush``/``close``)
    is the engine's: see ``loglayer.transports._delivery`` for every option. Defaults
    here: batches of at most 1000 entries or 5 MiB, sent at least every second.
    """

    def __init__(self, url: str, *, encoding: Any = "ndjson",
                 headers: Mapping[str, str] | None = None, compression: str = "gzip",
                 method: str = "POST", labels: Mapping[str, str] | None = None,
                 index: str | None = None, id: str = "", level: Any = None,
                 **delivery_options: Any) -> None:
        from ._http_codec import bulk_rejected, make_encoder

        encoder = make_encoder(encoding, labels=labels, index=index)
        check = None
        if encoding == "elasticsearch":
            def check(status: int, body: bytes) -> tuple[int, str]:
                refused, reason = bulk_rejected(body)
                return refused, reason or ""
        self.url = url
        self.encoding = encoding
        wire = HttpWire(url, encoder=encoder.encode, content_type=encoder.content_type,
                        method=method, headers=headers, compression=compression,
                        check=check)
        options = {"max_batch_entries": 1000, "max_batch_bytes": 5 * _MiB,
                   **delivery_options}
        super().__init__(wire, id=id, level=level, **options)

    def __repr__(self) -> str:
        return f"<HttpTransport id={self.id!r} url={self.url!r} encoding={self.encoding!r}>"

"""SMTP: build messages, send them (STARTTLS or implicit TLS, AUTH), and ``ccmon test-email``.

smtplib is blocking; the alerter calls :func:`deliver_batch` in a worker thread. The
password is read from its file or environment variable at the moment of login and is
never logged, printed or kept on an object.
"""

from __future__ import annotations

import contextlib
import email.policy
import logging
import smtplib
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum
from typing import TYPE_CHECKING

from monitor.config.alerts import PasswordError, SmtpConfig
from monitor.errors import EXIT_OK, EXIT_UNKNOWN, MonitorError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.config import Config

log = logging.getLogger(__name__)



#: Why a try did not deliver a message: the ``reason`` label of
#: ``ccmon_alert_email_failures_total``, a closed set. connect: the server cannot be
#: reached or talked to (refused, timeout, disconnect, 421); tls: TLS failed; auth: the
#: login was refused or the password unreadable; temporary: the server refused the message
#: with 4xx (retried); permanent: refused with 5xx (given up); expired: still undelivered
#: after retry.give_up_after (given up, see monitor.alerts.courier).
FAILURE_REASONS: tuple[str, ...] = ("connect", "tls", "auth", "temporary", "permanent", "expired")


class ServerError(MonitorError):
    """The SMTP server cannot be used now (down, TLS or login failed): retry every message."""

    exit_code = EXIT_UNKNOWN  # `ccmon test-email`: the test could not be done

    def __init__(self, text: str, reason: str = "connect") -> None:
        super().__init__(text)
        self.reason = reason


class MessageError(MonitorError):
    """The server refused this one message."""

    exit_code = EXIT_UNKNOWN

    def __init__(self, text: str, permanent: bool) -> None:
        super().__init__(text)
        self.permanent = permanent

    @property
    def reason(self) -> str:
        """"permanent" or "temporary": the reason label of a refused message."""
        return "permanent" if self.permanent else "temporary"


def build_message(
    smtp: SmtpConfig,
    recipients: Sequence[str],
    subject: str,
    body: str,
    now: float | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A plain-text UTF-8 message with Date and a fresh Message-ID."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now or time.time(), UTC))
    domain = smtp.sender.rpartition("@")[2] or "ccmon.invalid"
    message["Message-ID"] = make_msgid(idstring="ccmon", domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends. smtplib sends bytes unchanged, and a
    message with bare LF reads as one endless line to the server (RFC 5321: 1000 at most)."""
    return message.as_bytes(policy=email.policy.SMTP)


def _describe_response(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"


class SmtpSession:
    """One SMTP connection (TLS and login done), for sending one or more messages."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        """"host:port" of the SMTP server, for messages."""
        return f"{self.config.host}:{self.config.port}"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.ca_file:
            context.load_verify_locations(cafile=self.config.ca_file)
        return context

    def open(self) -> None:
        """Connect, EHLO, STARTTLS and log in as configured; ServerError when a step fails."""
        cfg = self.config
        try:
            if cfg.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls_context()
                )
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            self._client = client
            client.ehlo_or_helo_if_needed()
            if cfg.starttls:
                client.starttls(context=self._tls_context())
                client.ehlo()
            if cfg.username:
                self._login(client, cfg.username, cfg.password() or "")
        except PasswordError as exc:
            self.close()
            raise ServerError(str(exc), "auth") from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise ServerError(
                f"SMTP server {self.where} refused the login of {cfg.username!r}: "
                f"{_describe_response(exc.smtp_code, exc.smtp_error)}",
                "auth",
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            reason = "tls" if "STARTTLS" in str(exc).upper() else "auth"
            raise ServerError(f"SMTP server {self.where}: {exc}", reason) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise ServerError(
                f"SMTP server {self.where} said {_describe_response(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise ServerError(
                f"cannot talk to SMTP server {self.where}: {_os_words(exc)}",
                "tls" if isinstance(exc, ssl.SSLError) else "connect",
            ) from None

    @staticmethod
    def _login(client: smtplib.SMTP, username: str, password: str) -> None:
        """AUTH with one mechanism (PLAIN, else LOGIN): no silent fallbacks after a refusal."""
        offered = client.esmtp_features.get("auth", "").upper().split()
        client.user, client.password = username, password
        for mechanism in ("PLAIN", "LOGIN"):
            if mechanism in offered:
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
                return
        client.login(username, password)  # lets smtplib pick (CRAM-MD5) or say unsupported

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> dict[str, str]:
        """Send one message; returns the recipients the server refused (others got it)."""
        if self._client is None:
            self.open()
        assert self._client is not None
        try:
            refused = self._client.sendmail(sender, list(recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            words = "; ".join(
                f"{rcpt}: {_describe_response(code, text)}"
                for rcpt, (code, text) in exc.recipients.items()
            )
            raise MessageError(
                f"SMTP server {self.where} refused every recipient: {words}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise ServerError(f"SMTP server {self.where} disconnected: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # service closing: the server, not the message
                self.close()
                raise ServerError(
                    f"SMTP server {self.where} said "
                    f"{_describe_response(exc.smtp_code, exc.smtp_error)}"
                ) from None
            self._reset()
            raise MessageError(
                f"SMTP server {self.where} refused the message: "
                f"{_describe_response(exc.smtp_code, exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise ServerError(
                f"cannot talk to SMTP server {self.where}: {_os_words(exc)}"
            ) from None
        return {rcpt: _describe_response(code, text) for rcpt, (code, text) in refused.items()}

    def _reset(self) -> None:
        try:
            if self._client is not None:
                self._client.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        """Say QUIT and close; a connection that fails to quit is closed anyway."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            with contextlib.suppress(OSError):
                client.close()

    def __enter__(self) -> SmtpSession:
        """The session itself; the connection opens with the first send()."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection, if one was opened."""
        self.close()


def _os_words(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return str(exc) or type(exc).__name__


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: the caller's handle, the envelope recipients and the raw bytes."""
    key: int  # the caller's handle (outbox row id)
    recipients: tuple[str, ...]
    raw: bytes


class Delivery(StrEnum):
    """What became of one try of one message."""

    SENT = "sent"  # the server accepted it (some recipients may have been refused)
    RETRY = "retry"  # not delivered now: try again after the backoff
    FAILED = "failed"  # refused for good


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one Outgoing message, by its key."""
    key: int
    outcome: Delivery
    detail: str = ""  # the server's words, or the refused recipients of a sent message
    reason: str = ""  # retry and failed: one of FAILURE_REASONS


def deliver_batch(config: SmtpConfig, messages: Sequence[Outgoing]) -> list[Result]:
    """Send messages over one connection, blocking. When the server fails, the rest retry."""
    results: list[Result] = []
    with SmtpSession(config) as session:
        for index, item in enumerate(messages):
            try:
                refused = session.send(config.sender, item.recipients, item.raw)
            except ServerError as exc:
                results.extend(
                    Result(m.key, Delivery.RETRY, str(exc), exc.reason) for m in messages[index:]
                )
                break
            except MessageError as exc:
                outcome = Delivery.FAILED if exc.permanent else Delivery.RETRY
                results.append(Result(item.key, outcome, str(exc), exc.reason))
                continue
            note = "; ".join(f"refused {r}: {why}" for r, why in refused.items())
            results.append(Result(item.key, Delivery.SENT, note))
    return results


def send_test_email(config: Config, to: list[str] | None) -> int:
    """``ccmon test-email``: one message with the configured settings; 0 sent, 3 failed."""
    alerts = config.alerts
    recipients = tuple(to) if to else alerts.all_recipients()
    smtp = alerts.smtp
    if not recipients:
        print(
            "ccmon: no recipient: give --to ADDRESS or set alerts.recipients in the config",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    login = f" as {smtp.username}" if smtp.username else ""
    tls = " with implicit TLS" if smtp.ssl else " with STARTTLS" if smtp.starttls else ""
    body = (
        "This is a test message from ccmon.\n\n"
        f"It went to the SMTP server {smtp.host}:{smtp.port}{tls}{login},\n"
        f"from {smtp.sender} to {', '.join(recipients)}.\n"
        "Alert e-mails for the watched zones will come the same way.\n"
    )
    message = build_message(smtp, recipients, "[ccmon] test message", body)
    try:
        with SmtpSession(smtp) as session:
            refused = session.send(smtp.sender, recipients, wire_bytes(message))
    except (ServerError, MessageError) as exc:
        print(f"ccmon: test e-mail not sent: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    accepted = [r for r in recipients if r not in refused]
    print(f"sent test message to {', '.join(accepted)} via {smtp.host}:{smtp.port}{tls}{login}")
    for rcpt, why in refused.items():
        print(f"ccmon: SMTP server refused {rcpt}: {why}", file=sys.stderr)
    return EXIT_OK if not refused else EXIT_UNKNOWN

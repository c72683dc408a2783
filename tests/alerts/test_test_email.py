"""`ccmon test-email` and the SMTP client: STARTTLS, implicit TLS, AUTH, plain errors."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.alerts import mailer
from monitor.config.alerts import SmtpConfig
from tests.alerts.helpers import Sink, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Pa55"


def ccmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )


def write_config(path: Path, smtp: str, recipients: str = "[noc@example.net]") -> Path:
    path.write_text(
        "zones: [fr]\n"
        "alerts:\n"
        f"  recipients: {recipients}\n"
        "  smtp:\n" + "".join(f"    {line}\n" for line in smtp.strip().splitlines()),
        encoding="utf-8",
    )
    return path


def test_test_email_is_delivered(tmp_path: Path, sink: Sink):
    config = write_config(tmp_path / "c.yaml", f"host: 127.0.0.1\nport: {sink.port}\n"
                                               "from: ccmon@example.net")
    result = ccmon("test-email", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert f"sent test message to noc@example.net via 127.0.0.1:{sink.port}" in result.stdout
    [(mail_from, rcpt, message)] = sink.received
    assert (mail_from, rcpt) == ("ccmon@example.net", ["noc@example.net"])
    assert message["Subject"] == "[ccmon] test message"
    assert message["Message-ID"] and message["Date"]


def test_test_email_to_overrides_recipients(tmp_path: Path, sink: Sink):
    config = write_config(tmp_path / "c.yaml", f"host: 127.0.0.1\nport: {sink.port}", "[]")
    result = ccmon("test-email", "-c", str(config), "--to", "a@example.org", "--to",
                   "b@example.org")
    assert result.returncode == 0, result.stderr
    assert sink.received[0][1] == ["a@example.org", "b@example.org"]


def test_test_email_closed_port_is_a_plain_error(tmp_path: Path):
    port = free_port()
    config = write_config(tmp_path / "c.yaml", f"host: 127.0.0.1\nport: {port}")
    result = ccmon("test-email", "-c", str(config))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        f"ccmon: test e-mail not sent: cannot talk to SMTP server 127.0.0.1:{port}: "
        "connection refused")
    assert "Traceback" not in result.stderr + result.stdout


def test_test_email_shows_the_servers_words(tmp_path: Path):
    class Refusing(Sink):
        async def handle_RCPT(self, server, session, envelope, address, options):
            return f"550 5.7.1 relaying denied for <{address}>"

    sink = Refusing().start()
    try:
        config = write_config(tmp_path / "c.yaml", f"host: 127.0.0.1\nport: {sink.port}")
        result = ccmon("test-email", "-c", str(config))
    finally:
        sink.stop()
    assert result.returncode == 3
    assert "550 5.7.1 relaying denied for <noc@example.net>" in result.stderr
    assert "Traceback" not in result.stderr


def test_test_email_without_recipient(tmp_path: Path):
    config = write_config(tmp_path / "c.yaml", "host: 127.0.0.1", "[]")
    result = ccmon("test-email", "-c", str(config))
    assert result.returncode == 3
    assert "no recipient" in result.stderr


# --- TLS and AUTH against aiosmtpd ------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == b"ccmon" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def tls_sink(certificate: tuple[Path, Path]) -> Sink:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return Sink(tls_context=context, require_starttls=True, auth_required=True,
                auth_require_tls=True, authenticator=authenticator).start()


def test_starttls_and_auth_with_password_file(tmp_path: Path, certificate):
    sink = tls_sink(certificate)
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    try:
        config = write_config(tmp_path / "c.yaml", f"""
host: 127.0.0.1
port: {sink.port}
starttls: true
username: ccmon
password_file: {secret}
ca_file: {certificate[0]}
""")
        result = ccmon("test-email", "-c", str(config))
    finally:
        sink.stop()
    assert result.returncode == 0, result.stderr
    assert "with STARTTLS as ccmon" in result.stdout
    assert len(sink.received) == 1
    assert PASSWORD not in result.stdout + result.stderr


def test_wrong_password_from_env_is_reported_without_the_password(tmp_path: Path, certificate):
    sink = tls_sink(certificate)
    try:
        config = write_config(tmp_path / "c.yaml", f"""
host: 127.0.0.1
port: {sink.port}
starttls: true
username: ccmon
password_env: CCMON_TEST_SMTP_PASSWORD
ca_file: {certificate[0]}
""")
        result = ccmon("test-email", "-c", str(config),
                       env={"CCMON_TEST_SMTP_PASSWORD": "wrong-" + PASSWORD})
    finally:
        sink.stop()
    assert result.returncode == 3
    assert f"SMTP server 127.0.0.1:{sink.port} refused the login of 'ccmon': 535" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert sink.received == []


def test_untrusted_certificate_is_refused(certificate):
    sink = tls_sink(certificate)
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=sink.port, starttls=True, timeout=5.0)
        with pytest.raises(mailer.ServerError, match="TLS failed: CERTIFICATE_VERIFY_FAILED"), \
                mailer.SmtpSession(smtp) as session:
            session.open()
    finally:
        sink.stop()


def test_missing_password_env_is_a_server_error(certificate):
    smtp = SmtpConfig(host="127.0.0.1", port=free_port(), username="u",
                      password_env="CCMON_SURELY_UNSET_VARIABLE")
    os.environ.pop("CCMON_SURELY_UNSET_VARIABLE", None)
    with pytest.raises(mailer.ServerError):
        mailer.SmtpSession(smtp).open()


def test_implicit_tls(tmp_path: Path, certificate):
    from aiosmtpd.controller import Controller

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port,
                            ssl_context=context, ready_timeout=10.0)
    controller.start()
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=handler.port, ssl=True,
                          ca_file=str(certificate[0]), sender="ccmon@example.net", timeout=5.0)
        results = mailer.deliver_batch(smtp, [mailer.Outgoing(1, ("a@example.org",),
                                                              b"Subject: x\r\n\r\nbody\r\n")])
    finally:
        controller.stop()
    assert [r.outcome for r in results] == ["sent"]
    assert handler.received[0][1] == ["a@example.org"]

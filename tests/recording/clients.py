"""Real clients sending one message, with the debug output each format reads: smtplib in a
subprocess (its debug lines go to stderr), swaks, curl -v and msmtp --debug."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MESSAGE = (
    "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: quarterly figures\r\n"
    "\r\nHello Bob,\r\n.a line that starts with a dot\r\nthe figures are attached.\r\n"
)
SENDER, RECIPIENT = "alice@example.com", "bob@example.com"

_SMTPLIB = """
import smtplib, ssl, sys
host, port, ca, level, tls, mechanism, user, secret, rcpt = sys.argv[1:10]
s = smtplib.SMTP()
s.set_debuglevel(int(level))
s._host = host  # what SMTP(host) would set; starttls() checks the certificate for it
s.connect(host, int(port))
s.ehlo()
if tls == "starttls":
    s.starttls(context=ssl.create_default_context(cafile=ca))
    s.ehlo()
if mechanism == "LOGIN":
    s.user, s.password = user, secret
    s.auth("LOGIN", s.auth_login, initial_response_ok=False)
elif mechanism == "CRAM-MD5":
    s.user, s.password = user, secret
    s.auth("CRAM-MD5", s.auth_cram_md5)
elif mechanism == "PLAIN":
    s.user, s.password = user, secret
    s.auth("PLAIN", s.auth_plain)
try:
    s.sendmail("alice@example.com", [rcpt], sys.stdin.buffer.read())
except smtplib.SMTPRecipientsRefused:
    pass
s.quit()
"""


def need(program: str) -> None:
    if shutil.which(program) is None:
        message = f"{program} is not installed (see the README: Command-line clients)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _run(argv: list[str], stdin: bytes = b"", check: bool = True) -> str:
    done = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        timeout=30,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {done.returncode}: {done.stdout!r} {done.stderr!r}")
    return (done.stdout + done.stderr).decode("utf-8", "replace")


def smtplib_session(
    host: str,
    port: int,
    ca: str,
    *,
    level: int = 1,
    tls: str = "starttls",
    mechanism: str = "PLAIN",
    user: str = "",
    secret: str = "",
    rcpt: str = RECIPIENT,
) -> str:
    """Send MESSAGE with smtplib; its debug output."""
    return _run(
        [
            sys.executable,
            "-c",
            _SMTPLIB,
            host,
            str(port),
            ca,
            str(level),
            tls,
            mechanism,
            user,
            secret,
            rcpt,
        ],
        MESSAGE.encode(),
    )


def swaks_session(
    host: str,
    port: int,
    ca: str,
    *,
    mechanism: str = "LOGIN",
    user: str = "",
    secret: str = "",
    rcpt: str = RECIPIENT,
    tls: bool = True,
    check: bool = True,
) -> str:
    need("swaks")
    argv = [
        "swaks",
        "--server",
        f"{host}:{port}",
        "--from",
        SENDER,
        "--to",
        rcpt,
        "--ehlo",
        "client.example",
        "--data",
        "-",
        "--timeout",
        "20",
    ]
    if tls:
        argv += ["--tls", "--tls-verify", "--tls-ca-path", ca]
    if mechanism:
        argv += ["--auth", mechanism, "--auth-user", user, "--auth-password", secret]
    return _run(argv, (MESSAGE + ".\r\n").encode(), check=check)


def curl_session(
    host: str,
    port: int,
    ca: str,
    *,
    user: str = "",
    secret: str = "",
    token: str = "",
    mechanism: str = "PLAIN",
) -> str:
    need("curl")
    message = Path(os.environ.get("TMPDIR", "/tmp"), f"curl-message-{os.getpid()}.eml")
    message.write_text(MESSAGE, encoding="utf-8")
    try:
        argv = [
            "curl",
            "-v",
            "--max-time",
            "20",
            "--mail-from",
            SENDER,
            "--mail-rcpt",
            RECIPIENT,
            "--upload-file",
            str(message),
            f"smtp://{host}:{port}/client.example",
            "--ssl-reqd",
            "--cacert",
            ca,
            "--login-options",
            f"AUTH={mechanism}",
        ]
        if token:
            argv += ["--user", f"{user}:", "--oauth2-bearer", token]
        else:
            argv += ["--user", f"{user}:{secret}"]
        return _run(argv)
    finally:
        message.unlink()


def msmtp_session(
    host: str,
    port: int,
    ca: str,
    tmp: Path,
    *,
    mechanism: str = "login",
    user: str = "",
    secret: str = "",
) -> str:
    need("msmtp")
    password_file = tmp / "msmtp-password"
    password_file.write_text(secret)
    argv = [
        "msmtp",
        "--debug",
        "-C",
        "/dev/null",
        f"--host={host}",
        f"--port={port}",
        f"--from={SENDER}",
        "--domain=client.example",
        "--tls=on",
        "--tls-starttls=on",
        f"--tls-trust-file={ca}",
        f"--auth={mechanism}",
        f"--user={user}",
        f"--passwordeval=cat {password_file}",
        "--",
        RECIPIENT,
    ]
    return _run(argv, MESSAGE.encode())

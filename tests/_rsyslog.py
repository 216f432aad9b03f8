"""A real rsyslogd for the syslog tests, run as a child process on loopback.

::

    with Rsyslog(tmp_path) as rsyslog:
        transport = SyslogTransport(("127.0.0.1", rsyslog.port("tcp")), protocol="tcp")
        ...
        records = rsyslog.wait_for_records("tcp", 3)       # what rsyslog wrote
        records[0]["msg"], records[0]["sd"], records[0]["severity"], ...
        rsyslog.stop()                                      # SIGTERM, and wait
        rsyslog.start()                                     # back, on the same ports

The daemon is Debian's ``rsyslogd`` (packages ``rsyslog``, ``rsyslog-gnutls``,
``rsyslog-relp``, installed by ``make deps``); a missing binary fails the test rather
than skipping it, as a missing build step should.

Nothing of the machine's own syslog is touched: the daemon reads only the configuration
written here (``-f``), keeps its state in a private work directory, writes its pid file
there (``-i``), and loads no module that reads ``/dev/log``, the kernel log or the
journal (no ``imklog``, no ``imjournal``, and ``imuxsock`` only with its system socket
turned off, listening on a socket path in the test's directory).

Inputs, each bound to a ruleset of its own that writes one JSON object per message to
``<name>.jsonl``:

* ``udp`` (imudp), ``tcp`` (imtcp, plain), ``tls`` (imtcp with the gnutls driver and a
  certificate made by :class:`TestPki`), ``relp`` (imrelp), ``relptls`` (imrelp with
  TLS; it asks the client for a certificate: :meth:`TestPki.client_context`), ``unix``
  (imuxsock at :attr:`Rsyslog.socket_path`).

Each JSON object has the message's ``msg``, ``sd`` (structured-data), ``app``,
``host``, ``procid``, ``msgid``, ``severity``, ``facility`` (numbers, as text),
``time`` (timereported, RFC 3339), ``version`` (protocol-version), ``raw`` (rawmsg)
and ``sdparsed``: the structured data as rsyslog's ``mmpstrucdata`` parsed it, a JSON
text (``{"SD-ID": {"name": "value"}}``, values unescaped; empty when there is none).
rsyslog escapes control characters it receives (a newline becomes ``#012``) and drops
a message's trailing newline, as it does by default.

The main queue is drained at shutdown (a long ``queue.timeoutShutdown``): a message
rsyslog accepted is in its file once ``stop()`` returns, which the restart tests count
on. rsyslogd's own messages go to ``internal.log``, and its stderr to
``rsyslogd.log``; both are in every failure message.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from _daemon import Daemon

__all__ = ["INPUTS", "Rsyslog", "TestPki", "rsyslogd_binary"]

#: The inputs every daemon has, by the name ``port()`` and ``records()`` take.
INPUTS = ("udp", "tcp", "tls", "relp", "relptls", "unix")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
WAIT_TIMEOUT = 30.0
_LOG_TAIL = 4000

_TEMPLATE = """\
template(name="jsonl" type="list" option.jsonf="on") {
  property(outname="msg" name="msg" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
  property(outname="sdparsed" name="$!rfc5424-sd" format="jsonf")
}
"""


def rsyslogd_binary() -> str:
    """The path of ``rsyslogd``; fails the test (not skips) when it is not installed."""
    found = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd"
                                          if os.path.exists("/usr/sbin/rsyslogd") else None)
    if found is None:
        pytest.fail("rsyslogd is not installed: `make deps` installs rsyslog, "
                    "rsyslog-gnutls and rsyslog-relp (tools/install_deps.sh)", pytrace=False)
    return found


def _free_ports(count: int, kind: int) -> list[int]:
    """``count`` distinct loopback ports of socket type ``kind`` the kernel had free."""
    sockets = [socket.socket(socket.AF_INET, kind) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _listening(ports: list[int]) -> bool:
    """Whether every one of ``ports`` has a listening TCP socket on 127.0.0.1, read from
    ``/proc/net/tcp`` (a probe connection would leave an error in rsyslogd's log)."""
    wanted = {f"0100007F:{port:04X}" for port in ports}
    with open("/proc/net/tcp") as table:
        next(table)
        listening = {fields[1] for fields in map(str.split, table) if fields[3] == "0A"}
    return wanted <= listening


class TestPki:
    """A certificate authority, a server certificate for ``127.0.0.1`` and
    ``localhost``, and a client certificate (imrelp's TLS asks the client for one),
    made with the ``openssl`` command in ``directory``."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_cert = directory / "ca.pem"
        self.ca_key = directory / "ca.key"
        self.cert = directory / "server.pem"
        self.key = directory / "server.key"
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"

        def openssl(*args: str) -> None:
            done = subprocess.run(["openssl", *args], capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                pytest.fail(f"openssl {' '.join(args)} failed:\n{done.stderr}",
                            pytrace=False)

        # Certificates as RFC 5280 wants them: from 3.13 ssl.create_default_context()
        # sets VERIFY_X509_STRICT, which refuses a CA without keyUsage and a leaf
        # without an authority key identifier.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=loglayer test CA", "-keyout", str(self.ca_key),
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", str(self.ca_cert))
        for cert, key, name, extensions in [
                (self.cert, self.key, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                 "extendedKeyUsage=serverAuth\n"),
                (self.client_cert, self.client_key, "client", "extendedKeyUsage=clientAuth\n")]:
            csr = directory / f"{name}.csr"
            extfile = directory / f"{name}.ext"
            extfile.write_text(extensions + "keyUsage=digitalSignature,keyEncipherment\n"
                               "subjectKeyIdentifier=hash\n"
                               "authorityKeyIdentifier=keyid,issuer\n")
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=loglayer {name}",
                    "-keyout", str(key), "-out", str(csr))
            openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert),
                    "-CAkey", str(self.ca_key), "-CAcreateserial", "-days", "2",
                    "-extfile", str(extfile), "-out", str(cert))

    def client_context(self) -> ssl.SSLContext:
        """A client's context: trusts the CA, checks the server's name, and shows the
        client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


class Rsyslog(Daemon):
    """``rsyslogd -n`` with the inputs and outputs of the module docstring. A context
    manager: entering starts it, leaving stops it (when still running)."""

    name = "rsyslogd"

    def __init__(self, directory: str | Path, *, max_message_size: int = 64 * 1024) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = rsyslogd_binary()
        self.max_message_size = max_message_size
        self.pki = TestPki(self.directory / "pki")
        tcp, tls, relp, relptls = _free_ports(4, socket.SOCK_STREAM)
        (udp,) = _free_ports(1, socket.SOCK_DGRAM)
        self._ports = {"udp": udp, "tcp": tcp, "tls": tls, "relp": relp, "relptls": relptls}
        # AF_UNIX paths are limited to 107 bytes: a short name in the test's directory
        self.socket_path = self.directory / "log.sock"
        self.work = self.directory / "work"
        self.work.mkdir(exist_ok=True)
        self.config_path = self.directory / "rsyslog.conf"
        self.log_path = self.directory / "rsyslogd.log"
        self.pid_path = self.work / "rsyslogd.pid"
        self.config_path.write_text(self._config())

    def port(self, name: str) -> int:
        """The loopback port of input ``name`` (``udp``, ``tcp``, ``tls``, ``relp``,
        ``relptls``)."""
        return self._ports[name]

    def address(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", self._ports[name])

    def output(self, name: str) -> Path:
        return self.directory / f"{name}.jsonl"

    def _config(self) -> str:
        pki = self.pki
        rulesets = "".join(
            f'ruleset(name="{name}" queue.type="Direct") {{\n'
            f'  action(type="mmpstrucdata" sd_name.lowercase="off")\n'
            f'  action(type="omfile" file="{self.output(name)}" template="jsonl")\n'
            f'}}\n' for name in INPUTS)
        return f"""\
global(workDirectory="{self.work}" maxMessageSize="{self.max_message_size}"
       defaultNetstreamDriverCAFile="{pki.ca_cert}")
main_queue(queue.timeoutShutdown="{int(STOP_TIMEOUT * 500)}")
module(load="imudp")
module(load="imtcp" maxSessions="100")
module(load="imrelp")
module(load="imuxsock" sysSock.use="off")
module(load="mmpstrucdata")
{_TEMPLATE}
{rulesets}
input(type="imudp" address="127.0.0.1" port="{self._ports['udp']}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{self._ports['tcp']}" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="{self._ports['tls']}" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"
      streamDriver.caFile="{pki.ca_cert}" streamDriver.certFile="{pki.cert}"
      streamDriver.keyFile="{pki.key}")
input(type="imrelp" address="127.0.0.1" port="{self._ports['relp']}" ruleset="relp")
input(type="imrelp" address="127.0.0.1" port="{self._ports['relptls']}" ruleset="relptls"
      tls="on" tls.caCert="{pki.ca_cert}" tls.myCert="{pki.cert}"
      tls.myPrivKey="{pki.key}" tls.authMode="certvalid")
input(type="imuxsock" socket="{self.socket_path}" ruleset="unix" useSpecialParser="off"
      parseHostname="on" ignoreTimestamp="off" rateLimit.interval="0")
action(type="omfile" file="{self.directory / 'internal.log'}")
"""

    # -- the process -------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("rsyslogd was never started")
        return self._proc.pid

    def start(self) -> None:
        """Start the daemon (again, on the same ports) and wait until its stream
        inputs accept connections and its socket exists."""
        if self.running:
            raise RuntimeError("rsyslogd is already running")
        self.socket_path.unlink(missing_ok=True)  # the readiness check waits for a new one
        self._spawn([self.binary, "-n", "-f", str(self.config_path), "-i", str(self.pid_path)],
                    start_new_session=True)
        streams = [self._ports[name] for name in ("tcp", "tls", "relp", "relptls")]
        self._await(lambda: _listening(streams) and self.socket_path.exists(),
                    START_TIMEOUT, "listen", poll=0.02)

    def stop(self) -> None:
        """SIGTERM, and wait for the exit: rsyslogd drains its queue into the files."""
        self._terminate(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- what it wrote -----------------------------------------------------------------

    def records(self, name: str) -> list[dict[str, Any]]:
        """Every message input ``name`` received, in the order rsyslog wrote them
        (a line being written now is left for the next call)."""
        path = self.output(name)
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        lines.pop()  # "" after the last newline, or a line not yet complete
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                self._fail(f"{path.name} holds a line that is not JSON: {line!r}")
        return found

    def wait_for_records(self, name: str, count: int,
                         match: Callable[[dict[str, Any]], bool] | None = None,
                         timeout: float = WAIT_TIMEOUT) -> list[dict[str, Any]]:
        """Wait until input ``name`` has ``count`` records (that ``match``), and return
        them; fail with what arrived otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = [record for record in self.records(name)
                     if match is None or match(record)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                self._fail(f"{len(found)} of {count} records arrived at {name} within "
                           f"{timeout}s; the last: {found[-3:]}")
            time.sleep(0.02)

    def _fail(self, message: str) -> NoReturn:
        logs = []
        for path in (self.log_path, self.directory / "internal.log"):
            if path.exists():
                text = path.read_text(errors="replace")
                logs.append(f"--- {path.name} ---\n{text[-_LOG_TAIL:]}")
        pytest.fail(message + "\n" + "\n".join(logs), pytrace=False)

"""Django's, Flask's and uvicorn's own logging set-ups, with loglayer installed (#16).

Each runs as a program in a fresh interpreter (the frameworks configure ``logging``
once per process), with the framework's real configuration path and test client or
server: Django's ``LOGGING`` dict on top of its defaults and its test ``Client``,
Flask's ``app.logger`` and ``test_client``, uvicorn's ``log_config`` dict and a real
server on a loopback port.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import loglayer

PACKAGE_ROOT = str(pathlib.Path(loglayer.__file__).resolve().parent.parent)


def run_program(source: str, tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p))
    for variable in ("LOGLAYER_LEVEL", "LOGLAYER_FORMAT", "DJANGO_SETTINGS_MODULE"):
        env.pop(variable, None)
    if not loglayer.COMPILED:
        env["LOGLAYER_NO_EXTENSIONS"] = "1"
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(source), "utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_django_logging_defaults_and_a_logging_dict(tmp_path):
    pytest.importorskip("django")
    result = run_program("""
        import logging, sys
        import django
        from django.conf import settings
        from django.http import HttpResponse
        from django.urls import path
        from loglayer import StructuredTransport
        from loglayer.stdlib import StdlibLogger, install

        install(StructuredTransport(sys.stdout, time_format=None))

        def checkout(request):
            logging.getLogger("shop.views").info("checkout by %s", "ada")
            return HttpResponse("ok")

        urlpatterns = [path("checkout", checkout)]
        settings.configure(
            DEBUG=True, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"],
            SECRET_KEY="not secret", MIDDLEWARE=[], INSTALLED_APPS=[],
            LOGGING={
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
                "handlers": {"file": {"class": "logging.FileHandler", "filename": "shop.log",
                                      "formatter": "plain"}},
                "loggers": {"shop": {"handlers": ["file"], "level": "INFO"},
                            "django.request": {"handlers": ["file"], "level": "WARNING"}},
            })
        django.setup()  # Django's DEFAULT_LOGGING, then LOGGING, through dictConfig

        from django.test import Client
        client = Client()
        assert client.get("/checkout").status_code == 200
        assert client.get("/missing").status_code == 404
        for name in ("django", "django.request", "shop", "shop.views"):
            assert type(logging.getLogger(name)) is StdlibLogger, name
        logging.getLogger("shop.views").debug("below the shop's INFO")
    """, tmp_path)
    assert (tmp_path / "shop.log").read_text("utf-8") == (
        "INFO shop.views checkout by ada\nWARNING django.request Not Found: /missing\n")
    # Django's default console handler (DEBUG=True) prints the 404 on stderr
    assert "Not Found: /missing" in result.stderr
    # and loglayer, configured by install(), receives what reaches the root
    entries = [(e["level"], e["logger"], e["msg"]) for e in json_lines(result.stdout)]
    assert entries == [("info", "shop.views", "checkout by ada"),
                       ("warn", "django.request", "Not Found: /missing")]


def test_flask_app_logger(tmp_path):
    pytest.importorskip("flask")
    result = run_program("""
        import logging, sys
        from flask import Flask
        from loglayer import StructuredTransport
        from loglayer.stdlib import StdlibLogger, install

        install(StructuredTransport(sys.stdout, time_format=None))
        app = Flask("shop")

        @app.route("/buy")
        def buy():
            app.logger.warning("bought %s", "a book")
            return "ok"

        assert app.test_client().get("/buy").status_code == 200
        assert type(app.logger) is StdlibLogger and app.logger is logging.getLogger("shop")
        app.logger.info("below the root's WARNING")
    """, tmp_path)
    # Flask's default handler, added to app.logger because nothing else handles it
    assert result.stderr.splitlines()[-1].endswith("WARNING in program: bought a book")
    entries = [(e["level"], e["logger"], e["msg"]) for e in json_lines(result.stdout)]
    assert entries == [("warn", "shop", "bought a book")]


def test_uvicorn_log_config_with_a_real_server(tmp_path):
    pytest.importorskip("uvicorn")
    result = run_program("""
        import copy, logging, socket, sys, threading, time, urllib.request
        import uvicorn
        from loglayer import StructuredTransport
        from loglayer.stdlib import LogLayerHandler, StdlibLogger, install

        install(StructuredTransport(open("loglayer.jsonl", "w"), time_format=None))

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello"})

        log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
        log_config["formatters"]["default"]["use_colors"] = False
        log_config["formatters"]["access"]["use_colors"] = False
        log_config["handlers"]["loglayer"] = {"class": "loglayer.stdlib.LogLayerHandler"}
        log_config["loggers"]["uvicorn.access"]["handlers"].append("loglayer")

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=log_config, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
        thread.start()
        while not server.started:
            time.sleep(0.01)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello") as response:
            assert response.read() == b"hello"
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive()
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            assert type(logging.getLogger(name)) is StdlibLogger, name
    """, tmp_path)
    # uvicorn's own handlers and formatters: access lines on stdout, the rest on stderr
    assert '"GET /hello HTTP/1.1" 200' in result.stdout
    assert "INFO:     Started server process" in result.stderr
    # the LogLayerHandler added to the dict got the access entry without a second line
    entries = json_lines((tmp_path / "loglayer.jsonl").read_text("utf-8"))
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert len(access) == 1 and access[0]["level"] == "info"
    assert result.stdout.count("GET /hello") == 1

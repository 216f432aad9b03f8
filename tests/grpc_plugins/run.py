"""A plugin process for the gRPC tests: ``python run.py MODE [ARG]``.

MODE is a plugin of ``sample.py`` (``redact``, ``tag``, ``faulty``, ``echo``) served as it
is, or a misbehaviour of the process itself (``garbage``, ``silent``, ``badcore``,
``netrpc``, ``wrongcookie``, ``hclog``, ``hookschange STATEFILE``).
"""

from __future__ import annotations

import os
import sys
import time

import sample

from loglayer.isolation import serve
from loglayer.isolation._grpc_wire import MAGIC_COOKIE_KEY


def main() -> None:
    mode = sys.argv[1]
    if mode == "garbage":
        print("hello, I am not a plugin", flush=True)
        time.sleep(30)
    elif mode == "silent":
        time.sleep(30)
    elif mode == "badcore":
        print("9|1|unix|/nonexistent|grpc|", flush=True)
        time.sleep(30)
    elif mode == "netrpc":
        print("1|1|unix|/nonexistent|netrpc|", flush=True)
        time.sleep(30)
    elif mode == "wrongcookie":  # a plugin built for another application
        os.environ[MAGIC_COOKIE_KEY] = "someone-else"
        serve(sample.Redact())
    elif mode == "hclog":
        sys.stderr.write('{"@level":"error","@message":"disk is full","@module":"store",'
                         '"@timestamp":"2024-01-01T00:00:00Z","free":0}\n')
        sys.stderr.write("a plain stderr line\n")
        sys.stderr.flush()
        serve(sample.Redact())
    elif mode == "hookschange":
        state = sys.argv[2]
        starts = 0
        if os.path.exists(state):
            with open(state) as f:
                starts = int(f.read())
        with open(state, "w") as f:
            f.write(str(starts + 1))
        serve(sample.Redact() if starts == 0 else sample.Tag())
    else:
        serve({"redact": sample.Redact, "tag": sample.Tag, "faulty": sample.Faulty,
               "echo": sample.Echo}[mode]())


if __name__ == "__main__":
    main()

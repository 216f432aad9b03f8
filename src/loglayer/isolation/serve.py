"""``python -m loglayer.isolation.serve module:factory``: run a plugin process.

The factory is called with no arguments and must return a plugin object; it is served with
:func:`loglayer.isolation.serve` to the host that started this process, for example::

    GrpcPlugin([sys.executable, "-m", "loglayer.isolation.serve", "myapp.plugins:Redact"])

Run by hand, without a host's magic cookie, it prints go-plugin's "This binary is a plugin"
message and exits with status 1. The package attribute ``loglayer.isolation.serve`` is the
function; this module is only the command-line entry point.
"""

if __name__ == "__main__":
    import sys

    from loglayer.isolation._grpc_serve import main

    main(sys.argv[1:])

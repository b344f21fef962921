"""The HTTP server around the application: limits that bound what one connection or one caller
can hold of a worker, each enforced where it can be (docs/operations.md "HTTP limits").

    protocol.py  uvicorn's h11 protocol, extended: an incomplete request head over the size
                 limit (431), a head not finished in time (408), a connection idle from its
                 opening on, one connection over the cap (the longest idle one makes room, or
                 503); all closed
    address.py   the address to listen on, tried before start-up (a port in use is named)
    guard.py     the outermost part of the application: header count and size of a complete
                 head (431), the body timeout (408), requests in progress (503, never queued),
                 and an unexpected error answered as a 500 that leaves the connection usable
    supervisor.py  uvicorn run with one worker or several; SIGHUP passed on to every worker,
                 each of which reloads the policy files (``reload.py``)
"""

"""The HTTP server around the application: limits that bound what one connection or one caller
can hold of a worker, each enforced where it can be (docs/operations.md "HTTP limits").

    protocol.py  the HTTP protocol uvicorn is given (CDS_HTTP_IMPLEMENTATION), and its options
    limits.py    what both of our protocols add to uvicorn's: an incomplete request head over
                 the size limit (431), a head not finished in time (408), a connection idle
                 from its opening on, one connection over the cap (the longest idle one makes
                 room, or 503); all closed
    h11_protocol.py        uvicorn's h11 protocol with those limits
    httptools_protocol.py  uvicorn's httptools protocol with those limits, and the head's size
                 counted (httptools keeps a header line without bound)
    handshake.py TLS per connection, under either protocol, counted against the same cap
    address.py   the address to listen on, tried before start-up (a port in use is named)
    guard.py     the outermost part of the application: header count and size of a complete
                 head (431), the body timeout (408), requests in progress (503, never queued),
                 and an unexpected error answered as a 500 that leaves the connection usable
    supervisor.py  uvicorn run with one worker or several; SIGHUP passed on to every worker,
                 each of which reloads the policy files (``reload.py``)
"""

"""``sandbox compose``: several containers as one application (the Compose Specification).

    compose.yaml ──loader──▶ one normalized model (``sandbox compose config`` prints it)
                                   │
                                   ▼
                       project: a network, volumes, and per service its containers,
                       made with the same engine as ``sandbox run`` (and ``sandbox build``)

The loader reads and checks; the project acts.  Like compose-go and Docker Compose,
the loader does no I/O beyond reading files, and the model it returns is the
specification's long syntax, so the rest of the code never sees a short form.
"""

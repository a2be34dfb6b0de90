"""Building images from a Dockerfile (``sandbox build``): the composition layer.

A build is three steps, as BuildKit's are: parse, plan, execute.

    Dockerfile text ──dockerfile──▶ nodes ──instructions──▶ stages of typed commands
                                                                   │
    build context ──dockerignore──▶ files ──copying──▶ checksums   │  (shell expands words)
                                                     ▼             ▼
                           builder: one cache key per step, one layer per filesystem change

- :mod:`.dockerfile` reads a Dockerfile as BuildKit's parser does (directives,
  continuations, heredocs, JSON and shell forms, flags);
- :mod:`.instructions` turns each node into a typed command and checks its flags;
- :mod:`.shell` expands ``$VAR`` words as BuildKit's shell lexer does;
- :mod:`.dockerignore` decides which files of the context a build may see;
- :mod:`.copying` carries out COPY and ADD, and checksums what they copy;
- :mod:`.build` runs the stages: each RUN in a sandbox container, each step
  keyed by its parent, its instruction and the checksums of its files.

Nothing here imports a library that starts threads: the process that runs a
RUN step creates user namespaces, which a threaded process cannot
(unshare(2), EINVAL).
"""

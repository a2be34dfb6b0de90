"""The engine: containers on disk and the processes that run them.

Records (``records``), volumes, ``--env-file``, the json-file log, restart policies, the
monitor (the process that waits for a container), ``--init``'s reaper (``init``), the
process tree (``runtime``, ``process``), Docker's security flags (``security``), the verbs
(``lifecycle``, ``top``, ``copying``, ``imagetools``).  The faces (``sandbox.api``,
``sandbox.cli``) call it; it uses every layer below.

Named ``engine``, not ``containers``: ``sandbox.containers()`` is the API's ``docker ps``.
"""

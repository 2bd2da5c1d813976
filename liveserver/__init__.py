"""The service (or a peer server) as a real process on loopback, and its memory: what the tests
and the benchmarks share. It imports none of the project's packages: it starts `python -m
service` as a child process and talks to it over HTTP.

- `liveserver.processes`: a free loopback port, stopping a process we started, a process tree's
  resident memory;
- `liveserver.server`: `Server`, a server process that is ready when constructed;
- `liveserver.memory`: the service's memory under its largest requests, and the targets for it.
"""

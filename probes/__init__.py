"""DNS probes for ccmon: one sweep of a zone in four stages. Knows nothing of Prometheus,
e-mail or HTTP; the monitor only reads the ZoneReport a sweep returns.

Stages, in the order a sweep (sweep.py) runs them::

    discover   discover.py          the parent's referral, the child's NS set, addresses
    observe    observe.py           the core queries (SOA over UDP and TCP, NS), then
               observe_further.py   the further ones (DNSSEC, AXFR, recursion, EDNS, NSID)
    judge      checks/              pure functions, evidence -> findings; the registry
                                    (checks/__init__.py CHECKS) is the list of checks
    summarise  summarise.py         observations + findings -> the report's plain values:
                                    per address state, serial, lag; per zone availability,
                                    name servers up, DNSSEC state

What the stages share (observe and judge never import each other):

    model.py        Observation, Question, Finding, ServerStatus, ZoneReport, the enums
    evidence.py     a sweep's observations as the judges and observe read them
    labels.py       the names of the further queries (Question.variant)
    serial.py       RFC 1982 serial arithmetic      addresses.py  address family, order
    names.py        zone names (A-label, U-label)   text.py       durations, UTC times

Under them: engine.py, transport.py, loop.py, limits.py (sockets, pacing, bounds), vantage.py
(is the miss ours? "unmeasured is not down"), settings.py and expectations.py (what config
asks for), precheck/ (`ccmon precheck` of a proposed delegation).
"""

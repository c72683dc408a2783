"""Observe, continued: the further queries the DNSSEC, security, EDNS and NSID checks need.

`labels` names each further query (the judges select observations by these names);
`queries` sends them and registers itself in `probes.observe.EXTRA_PROBES`.
"""

"""Observe, continued: the further queries the DNSSEC, security, EDNS and NSID checks need.

`labels` names each further query (the judges select observations by these names);
`queries` sends them; `probes.observe.EXTRA_PROBES` lists its probe.
"""

"""DNS probes for ccmon: discover a zone's delegation, observe its servers, judge.

Knows nothing of Prometheus, e-mail or HTTP.
"""

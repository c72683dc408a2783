"""Errors raised by the lab."""


class LabError(Exception):
    """The lab could not start, change or stop the DNS world."""


class ScenarioError(LabError, ValueError):
    """A scenario is invalid; the message names the offending entry. Nothing was started."""


class PortInUse(LabError):
    """Another process (another lab?) already listens on a lab address and port."""

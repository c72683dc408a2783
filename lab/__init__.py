"""ccmon's lab: an offline DNS world of real name servers on loopback, with faults on demand.

    from lab import Lab, load_scenario
    with Lab(load_scenario("demo")) as lab:
        ...

See lab/README.md.
"""

from lab.errors import LabError, PortInUse, ScenarioError
from lab.scenario import Scenario, ServerSpec, ZoneSpec, load_scenario, parse_scenario
from lab.world import Lab, ServerInfo

__all__ = [
    "Lab",
    "LabError",
    "PortInUse",
    "Scenario",
    "ScenarioError",
    "ServerInfo",
    "ServerSpec",
    "ZoneSpec",
    "load_scenario",
    "parse_scenario",
]

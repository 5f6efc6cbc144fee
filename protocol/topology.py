"""Market zones and congestion points, as the market and the DSO both see them.

A congestion point's reference flow (e.g. the transformer's import, upstream → LV) changes by
``(s[i] - s[j]) / 1000`` per unit of energy traded from zone ``i`` to zone ``j``, where ``s``
are the point's injection sensitivities in per-mille (a PTDF with the upstream grid as reference).
A positive change loads the point in its "import" direction, a negative one in "export".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CongestionPoint(BaseModel):
    """A congestion point and its per-mille injection sensitivities by zone (missing = 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sensitivity_permille: dict[str, int] = Field(default_factory=dict)

    def flow_change_permille(self, from_zone: str, to_zone: str) -> int:
        """Change of the reference flow (per-mille of the traded energy) for a trade i → j."""
        s = self.sensitivity_permille
        return s.get(from_zone, 0) - s.get(to_zone, 0)


class Topology(BaseModel):
    """LV zones (feeders), the upstream zone and the congestion points between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zones: tuple[str, ...]
    upstream: str = "upstream"
    points: tuple[CongestionPoint, ...] = ()

    def all_zones(self) -> tuple[str, ...]:
        return (*self.zones, self.upstream)


def transformer_topology(feeders: tuple[str, ...], point: str = "transformer") -> Topology:
    """One MV/LV transformer above radial feeders: every LV zone injects −1 into its import flow."""
    return Topology(
        zones=feeders,
        points=(CongestionPoint(name=point, sensitivity_permille={f: -1000 for f in feeders}),),
    )

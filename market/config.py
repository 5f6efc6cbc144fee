"""Exchange configuration: everything besides the journal that determines the trades."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from protocol.tariff import Tariff
from protocol.topology import Topology
from protocol.units import DAY_SECONDS, SLOT_SECONDS


class MarketConfig(BaseModel):
    """Gate closure, order horizon, roles, supplier tariff and grid topology of one exchange."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gate_closure_s: int = Field(default=SLOT_SECONDS, ge=0)
    horizon_s: int = Field(default=2 * DAY_SECONDS, gt=0)
    supplier: str = "supplier"
    operator: str = "operator"
    dso: str = "dso"
    tariff: Tariff
    topology: Topology

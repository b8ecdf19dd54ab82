"""The hard limits, declared once: the model variables that describe each limit and the policy paths that
set its allowance. The report, the plots, the terminal summary, the dynamic shadow prices and the ensembles
(what they record, the share of runs in which each limit binds) derive their lists from ``LIMITS``; every
name here is a variable declared in ``simulator/model/*.yaml`` (tested)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lever:
    """A policy path that sets a limit's allowance (a series multiplier in the scenario), and the model
    output that measures the allowance it gives. The dynamic shadow price raises ``policy`` by 1 %."""

    policy: str
    allowance: str


@dataclass(frozen=True)
class Limit:
    """One hard limit: use is held to ``cap`` when ``demand`` exceeds it."""

    label: str  # a short label in words, as reports and plots print it
    marginal: str  # the use one more unit of allowance goes to, which the shadow price values
    binding: str  # 1 where the limit binds (demand above the cap), else 0
    shortfall: str  # demand the limit turns away
    shadow_price: str  # GDP one more unit of allowance would add this year
    gdp_lost: str  # GDP lost to the limit
    use: str  # what is held to the cap
    cap: str  # the limit itself, in the units of use
    demand: str  # what use would be without the limit
    levers: tuple[Lever, ...]  # policy paths that raise the allowance
    allowance_units: str  # unit of the allowance (per year), for shadow prices in yuan per unit

    @property
    def share(self) -> str:
        """Name of an ensemble summary's variable: the fraction of kept runs in which the limit binds."""
        return f"share_{self.binding}"

    def variables(self) -> tuple[str, ...]:
        """Every model variable this limit names."""
        return (
            self.binding,
            self.shortfall,
            self.shadow_price,
            self.gdp_lost,
            self.use,
            self.cap,
            self.demand,
            *(lever.allowance for lever in self.levers),
        )


LIMITS = (
    Limit(
        "water",
        "irrigation (served last)",
        binding="water_binding",
        shortfall="water_shortfall",
        shadow_price="water_shadow_price",
        gdp_lost="gdp_lost_to_water",
        use="water_use",
        cap="water_supply_cap",
        demand="water_demand",
        levers=(Lever("yellow_river_allocation", "yellow_river_allocation"), Lever("water_red_line", "water_red_line")),
        allowance_units="m3",
    ),
    Limit(
        "industrial water",
        "industry",
        binding="industrial_water_binding",
        shortfall="industrial_water_shortfall",
        shadow_price="industrial_water_shadow_price",
        gdp_lost="gdp_lost_to_industrial_water",
        use="industrial_water_use",
        cap="industrial_water_available",
        demand="industrial_water_demand",
        levers=(Lever("industrial_water_right_index", "industrial_water_allowance"),),
        allowance_units="m3",
    ),
    Limit(
        "coal cap",
        "coal mining",
        binding="coal_binding",
        shortfall="coal_shortfall",
        shadow_price="coal_shadow_price",
        gdp_lost="gdp_lost_to_coal_cap",
        use="coal_output",
        cap="coal_cap",
        demand="coal_demand",
        levers=(Lever("coal_cap", "coal_cap"),),
        allowance_units="t",
    ),
    Limit(
        "energy dual control",
        "industry (secondary output)",
        binding="energy_binding",
        shortfall="energy_shortfall",
        shadow_price="energy_shadow_price",
        gdp_lost="gdp_lost_to_energy_limit",
        use="energy_use",
        cap="energy_cap",
        demand="energy_demand",
        levers=(Lever("energy_intensity_limit", "energy_cap"),),
        allowance_units="tce",
    ),
)


def limit_on(use: str) -> Limit | None:
    """The limit that holds ``use`` (e.g. ``water_use``) to a cap, or None."""
    return next((limit for limit in LIMITS if limit.use == use), None)

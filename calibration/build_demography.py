"""Write the demographic inputs derived from census tables into simulator/model/parameters.yaml.

    python calibration/build_demography.py

Rewrites the block between the markers below in parameters.yaml. Every number there is derived here, once,
from the tables in calibration/data (sources in docs/sources/research_demography_v2_age.md and
research_demography_v2_rates.md); the test suite checks that the YAML block matches what this script writes.

- census_residents: persons by city, sex and five-year age group at the 2010 and 2020 censuses (AGE1, AGE2;
  0-4 = age 0 + ages 1-4).
- fertility_schedule: China's 2010 census age-specific fertility rates (D02), five-year groups, per woman.
- mortality_schedule: China's 2010 census death rates by sex (D02) in five-year groups. The census records
  too few infant deaths (3.82 per 1000 at age 0 against an infant mortality rate of 13.93, D06), so age 0 is
  set to the infant mortality rate (by sex in the census's male/female proportion); 0-4 and 85+ are averages
  of the finer groups weighted by Inner Mongolia's 2010 census population (AGE3).
"""

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "calibration" / "data"
PARAMETERS = ROOT / "simulator" / "model" / "parameters.yaml"
BEGIN = "  # BEGIN derived demography (written by calibration/build_demography.py; do not edit by hand)"
END = "  # END derived demography"
CITIES = ["hohhot", "baotou", "ordos", "ulanqab"]
SEXES = ["male", "female"]
GROUPS = [f"{a}-{a + 4}" for a in range(0, 85, 5)] + ["85+"]
INFANT_MORTALITY_2010 = 13.93 / 1000  # China 2010, deaths before age 1 per birth (D06)


def age_element(group: str) -> str:
    """The model's element name of a census age group: '0-4' -> 'a0_4', '85+' -> 'a85_plus'."""
    return "a" + group.replace("-", "_").replace("+", "_plus")


def census_table() -> pd.Series:
    """Persons by area, sex, age group and year (all residences)."""
    data = pd.read_csv(DATA / "census_age_sex.csv", dtype={"age_group": str})
    rows = data[(data.residence == "total") & data.sex.isin(SEXES)]
    return rows.set_index(["area", "sex", "age_group", "year"])["value"]


def rates(quantity: str) -> pd.Series:
    data = pd.read_csv(DATA / "demographic_rates.csv", dtype=str)
    rows = data[(data.area == "china") & (data.year == "2010") & (data.quantity == quantity)]
    return rows.set_index(["sex", "age_group"])["value"].astype(float)


def fertility_schedule() -> dict:
    asfr = rates("asfr")
    return {g: (asfr["female", g] / 1000 if ("female", g) in asfr.index else 0.0) for g in GROUPS}


def mortality_schedule() -> dict:
    death, people = rates("death_rate"), census_table()
    out = {}
    for sex in SEXES:
        pop = {g: people["inner_mongolia", sex, g, 2010] for g in ("0", "0-4", "85-89", "90-94", "95-99", "100+")}
        infant = INFANT_MORTALITY_2010 * death[sex, "0"] / death["both", "0"]
        under_5 = (infant * pop["0"] + death[sex, "1-4"] / 1000 * (pop["0-4"] - pop["0"])) / pop["0-4"]
        oldest = ["85-89", "90-94", "95-99", "100+"]
        over_85 = sum(death[sex, g] / 1000 * pop[g] for g in oldest) / sum(pop[g] for g in oldest)
        out[sex] = {g: under_5 if g == "0-4" else over_85 if g == "85+" else death[sex, g] / 1000 for g in GROUPS}
    return out


def _row(values: dict, digits=6) -> str:
    return "{" + ", ".join(f"{age_element(g)}: {float(f'{v:.{digits}g}')!r}" for g, v in values.items()) + "}"


def block() -> str:
    people = census_table()
    lines = [
        BEGIN,
        "  census_residents:",
        "    kind: series",
        "    dims: [city, sex, age]",
        "    units: person",
        "    points:",
    ]
    for city in CITIES:
        lines.append(f"      {city}:")
        for sex in SEXES:
            cells = ", ".join(
                f"{age_element(g)}: {{2010: {int(people[city, sex, g, 2010])}, "
                f"2020: {int(people[city, sex, g, 2020])}}}"
                for g in GROUPS
            )
            lines.append(f"        {sex}: {{{cells}}}")
    lines += [
        "    doc: >",
        "      Resident population by sex and five-year age group at the censuses of 1 Nov 2010 and 1 Nov 2020",
        "      (taken as year end); the start state of the cohorts.",
        "    source: >",
        "      2010 and 2020 census yearbooks, county-level tables (AGE1, AGE2, docs/sources/research_demography_v2_age.md;",  # noqa: E501 (a line of the YAML it writes)
        "      0-4 = age 0 + ages 1-4); the city totals equal the census counts (2010: within X01's rounding to hundreds)",  # noqa: E501 (a line of the YAML it writes)
        "",
        "  fertility_schedule:",
        "    kind: parameter",
        "    dims: [age]",
        "    units: 1/year",
        f"    value: {_row(fertility_schedule())}",
        "    status: sourced",
        "    doc: Births per woman per year by the mother's age group (China, 2010 census); its shape is kept, the",
        "      level is fertility_level x fertility_index.",
        "    source: D02 (2010 census table 6-3), single years summed to five-year means, docs/sources/research_demography_v2_rates.md",  # noqa: E501 (a line of the YAML it writes)
        "",
        "  mortality_schedule:",
        "    kind: parameter",
        "    dims: [sex, age]",
        "    units: 1/year",
        "    value:",
        *(f"      {sex}: {_row(v)}" for sex, v in mortality_schedule().items()),
        "    status: derived",
        "    doc: Deaths per person per year by sex and age group (China, 2010 census); the level is mortality_level",
        "      x mortality_index.",
        "    source: >",
        "      D02 (2010 census table 6-4); age 0 set to the 2010 infant mortality rate 13.93 per 1000 (D06), 0-4 and",
        "      85+ averaged over the finer groups with Inner Mongolia's 2010 census population (AGE3); calibration/build_demography.py",  # noqa: E501 (a line of the YAML it writes)
        "",
        END,
    ]
    return "\n".join(lines)


def main():
    text = PARAMETERS.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    PARAMETERS.write_text(text[:start] + block() + text[end:], encoding="utf-8")
    print(f"wrote the derived demography into {PARAMETERS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

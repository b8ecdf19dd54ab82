"""Assemble calibration/data/history.csv, the observed series the model is calibrated against.

    python calibration/build_history.py

Reads the copies of the shared statistics in calibration/data/ and writes one row per series, city and
year with units, source id and confidence. Breaks in the official series are handled here, once:

- Age structure: the shares aged 0-14, 15-59 and 60+ at the 2010 and 2020 censuses (X01).
- Resident population: only the 2010 and 2020 censuses (X01, S04). The year-end series before 2020 are on
  the old, pre-census basis (Baotou 2019: 289.7e4 in the bulletin, S43, against 270.94e4 at the census)
  or of unstated vintage (X04), so they are not used.
- GDP: levels before 2018 are on the pre-economic-census basis and not comparable with later levels. The
  series used is real GDP at 2020 prices built from the 2020 level of the break-free revised series and the
  real growth rates (X03), i.e. the observed real growth rates chained backwards; the growth rates are also
  written as their own series.
- CO2: the CEADs inventory (X05), 2010-2019, a modelled estimate (medium confidence).
- Investment: Inner Mongolia's gross fixed investment over its GDP (investment_rate_province, city ``all``: no
  city has an investment series), from the perpetual-inventory capital stock (V01e, copied to
  capital_stock_inner_mongolia.csv): I(t) = K(t) - (1 - 0.096) K(t-1) at 2010 prices, over the province's
  GDP (K(2010) / 2.68, grown with the four cities' real growth), times the price of investment relative to
  output from 2010 to 2020 prices (1.141 / 1.021); docs/sources/capital.md. 2010-2017 rest on official gross
  fixed capital formation (medium); 2018-2020 on fixed-asset-investment growth, which carries the 2017-2018
  correction of inflated statistics (low).
- Population before the window (population_yearend_2000s): X04's year-end resident population for 2000 and
  2004-2009 (calibration/data/population_2000_2009.csv, extracted from the X04 workbook for those years only).
  Its 2004-2010 values are consistent with the 2010 census (2010: 287.36 against 286.66e4 in Hohhot) and were
  final by 2011, so a backtest from any origin may use them; the intercensal values after 2010 are a
  back-revision to the 2020 census (information of 2021) and are not used. Not a calibration target: the
  backtest's naive population forecasts (census trend, last growth, drift) and the pre-origin net migration
  (external_migration_rate's vintage) come from it.
"""

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
CITIES = ["hohhot", "baotou", "ordos", "ulanqab"]


def main():
    panel = pd.read_csv(DATA / "history_panel_2010_2020.csv")
    shared = pd.read_csv(DATA / "baseline_2020.csv")

    def pivot(variable):
        return panel[panel.variable == variable].pivot_table(index="year", columns="city", values="value")[CITIES]

    rows = []

    def add(series, city, year, value, units, source, confidence, note=""):
        rows.append(
            {
                "series": series,
                "city": city,
                "year": int(year),
                "value": float(value),
                "units": units,
                "source": source,
                "confidence": confidence,
                "note": note,
            }
        )

    census_2020 = {
        r.city: r.value
        for r in shared[shared.variable == "resident_population_census_2020-11-01"].drop_duplicates("city").itertuples()
        if r.city in CITIES
    }
    census_2010 = panel[panel.variable == "resident_population_census_2010-11-01"].set_index("city")["value"]
    urban = pivot("urban_population_census")
    for city in CITIES:
        add("population_census", city, 2010, census_2010[city] * 1e4, "person", "X01", "medium", "census 1 Nov 2010")
        add("population_census", city, 2020, census_2020[city] * 1e4, "person", "S04", "medium", "census 1 Nov 2020")
        for year in (2010, 2020):
            add(
                "urban_population_census",
                city,
                year,
                urban.loc[year, city] * 1e4,
                "person",
                "X01",
                "medium",
                f"census {year}",
            )
    for band, variable in (
        ("under_15", "age_share_0_14"),
        ("aged_15_59", "age_share_15_59"),
        ("aged_60_plus", "age_share_60plus"),
    ):
        share = pivot(variable) / 100
        for city in CITIES:
            for year in (2010, 2020):
                add(
                    f"share_{band}_census",
                    city,
                    year,
                    share.loc[year, city],
                    "1",
                    "X01",
                    "medium",
                    f"census {year}, share of residents in the age band",
                )
    growth = pivot("gdp_real_growth") / 100
    level = pivot("gdp_nominal_revised_series")
    real_gdp = {}
    for city in CITIES:
        real = real_gdp[city] = {2020: level.loc[2020, city] * 1e8}
        for year in range(2020, 2010, -1):
            real[year - 1] = real[year] / (1 + growth.loc[year, city])
        for year in range(2010, 2021):
            add(
                "gdp_real",
                city,
                year,
                real[year],
                "yuan/year",
                "X03",
                "medium",
                "2020 prices: 2020 revised level chained back with the real growth rates",
            )
        for year in range(2011, 2021):
            add("gdp_real_growth", city, year, growth.loc[year, city], "1/year", "X03", "medium", "year on year")
    co2 = pivot("co2_emissions_ceads")
    for city in CITIES:
        for year in range(2010, 2020):
            add("co2_ceads", city, year, co2.loc[year, city] * 1e6, "tCO2/year", "X05", "medium", "CEADs inventory")
    capital = pd.read_csv(DATA / "capital_stock_inner_mongolia.csv", comment="#").set_index("year")
    stock, confidence = capital["value"], capital["confidence"]
    four_city_real = pd.DataFrame(real_gdp).sum(axis=1)
    gdp_2010 = stock[2010] / 2.68  # the province's 2010 capital-output ratio at 2010 prices (capital.md)
    relative_price = 1.141 / 1.021  # investment price index 2010-2019 over the GDP deflator 2010-2020
    for year in range(2010, 2021):
        investment = stock[year] - (1 - 0.096) * stock[year - 1]  # 0.096: the depreciation V01e was built with
        gdp = gdp_2010 * four_city_real[year] / four_city_real[2010]
        add(
            "investment_rate_province",
            "all",
            year,
            investment / gdp * relative_price,
            "1",
            "V01e",
            confidence[year],
            "Inner Mongolia: gross fixed investment over GDP, from the perpetual-inventory capital stock",
        )
    early = pd.read_csv(DATA / "population_2000_2009.csv")
    for r in early.itertuples():
        add(r.series, r.city, r.year, r.value, r.units, r.source, r.confidence, r.note)
    out = pd.DataFrame(rows)
    out.to_csv(DATA / "history.csv", index=False, float_format="%.10g")
    print(f"wrote {DATA / 'history.csv'} ({len(out)} rows)")
    assert np.isfinite(out.value).all()


if __name__ == "__main__":
    main()

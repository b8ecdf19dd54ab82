"""Model validation: the regional model against data, accounts, limits, extreme conditions and its stored reference."""

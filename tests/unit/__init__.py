"""Unit: small pieces alone (units, expressions, YAML with lines, input references, the settings validator, style)."""

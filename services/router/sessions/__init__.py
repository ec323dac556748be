"""Sessions and pools: allocation by the core rule, lifecycle, the sweeper."""

"""The aggregator role: its homes' flexibility offered to a DSO over UFTP."""

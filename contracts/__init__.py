"""Vyper sources of the ledger contracts (EnergyCredit, Registry, Settlement); no Python logic."""

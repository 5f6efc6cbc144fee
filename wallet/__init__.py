"""Prosumer wallet: keystore, balances, escrow and history read from the chain."""

"""Contracts compiled and cached, deployment, typed web3 client, chains, settlement batches."""

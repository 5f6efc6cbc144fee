"""Contract compilation and cache, deployment, typed web3 client, chain backends, settlement batches."""

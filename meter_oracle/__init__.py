"""Gateway meter readers, 15-minute intervals from cumulative registers, signing and verification."""

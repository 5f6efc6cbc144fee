"""Gateway meter readers, 15-minute intervals from registers, signing and verification."""

"""Shared kernel: message models, canonical encoding, Ed25519 signing, units and slots.

Every other package may import this one; it imports none of them.
"""

"""Order books, continuous double auction with congestion-aware matching, journal and replay."""

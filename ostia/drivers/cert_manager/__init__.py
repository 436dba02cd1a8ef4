"""Certificate managers: where listener and pool TLS container refs resolve to certificates and keys."""

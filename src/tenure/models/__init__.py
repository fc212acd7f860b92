"""Statistical models fitted to what the engine computes."""

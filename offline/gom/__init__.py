"""GOM, generalized occupancy models (METHODS.md, GOM): cumulants, reward weights, diffusion."""

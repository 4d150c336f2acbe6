"""Gin configs of DCEO (Deep Covering Eigenoptions) and its Laplacian representation."""

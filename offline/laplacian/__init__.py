"""The Laplacian representation learned offline from a dataset's transitions (DCEO's phi):
learner.py, with its loss in agents/laplacian.py."""

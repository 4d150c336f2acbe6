"""DSM, the distributional successor measure (METHODS.md, DSM): a delta-model trained offline,
its training targets, losses and learner, and its evaluation against Monte Carlo returns."""

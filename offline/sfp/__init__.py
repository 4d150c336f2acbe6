"""SFP's state-free action prior p(a_t | a_{t-1}), trained offline: flow.py (the conditional
RealNVP flow), models.py (flow, Gaussian and deterministic priors), prior.py (ActionPrior, what
the SFP agent loads), learner.py (SFPPriorLearner)."""

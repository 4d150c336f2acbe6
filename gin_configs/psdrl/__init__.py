"""Gin configs of PSDRL (posterior sampling for deep RL) experiments."""

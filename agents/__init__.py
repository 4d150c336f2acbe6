"""Agents of the zoo: one module per method, each a thin stateful shell around pure jitted
functions."""

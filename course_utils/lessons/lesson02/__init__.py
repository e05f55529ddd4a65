"""Lesson 02 (timestep MLP and FiLM): the measured comparison of how t enters a small score network."""

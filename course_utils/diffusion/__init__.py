"""The diffusion maths the lessons train and sample with, independent of any network.

The discrete DDPM process (Ho et al. 2020) and its samplers (DDPM ancestral, deterministic DDIM), the
variance-preserving SDE (Song et al. 2021), the one rule that turns a user's ``t`` into a batch of
times, lesson 05's 2-D toy data and its sample metrics.
"""

"""Lesson 01 (sinusoidal timestep embedding): the measurements its cells call.

Two properties of the embedding shown numerically, and the learned-table study.
"""

"""Lesson 05 (a FiLM score network on 2-D data): the comparison, the metric's reference bands and the
time-width study its cells call."""

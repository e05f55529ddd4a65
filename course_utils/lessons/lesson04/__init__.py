"""Lesson 04 (MNIST, simple vs sinusoidal conditioning): data, run profiles, training, cached results.

MNIST loading (``mnist``), the run's frozen settings (``profiles``), the trainer and its CUDA-graph
step (``trainer``, ``graphed_step``), the cached results' schema and plots (``results``) and the
lesson's friendly exceptions (``errors``).
"""

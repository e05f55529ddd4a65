"""Lesson 04 (MNIST, four ways to condition a U-Net on t): data, run profiles, training, cached results.

MNIST loading (``mnist``), the run's frozen settings (``profiles``), the trainer and its CUDA-graph
step (``trainer``, ``graphed_step``), the fixed held-out split and its loss by timestep
(``heldout``), the shipped fp16 weights (``weights``), the cached results' schema, verdict and plots
(``results``) and the lesson's friendly exceptions (``errors``).
"""

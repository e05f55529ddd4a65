"""What the learners implement: the time-conditioning components and the networks built from them.

Sinusoidal embedding (Vaswani et al. 2017; Ho et al. 2020), the timestep MLP, FiLM (Perez et al.
2018), adaptive group normalization (Dhariwal & Nichol 2021), lesson 04's MNIST U-Nets, lesson 05's
2-D score networks, and the measured "does the output change with t?" check. Each module is the
reference solution of one exercise; :mod:`course_utils.reference` re-exports them.
"""

"""Lesson 03 (adaptive group normalization): five ways to let t into a conv block, measured."""

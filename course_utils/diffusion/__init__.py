"""Diffusion processes and their samplers (the DDPM forward process lives in ``course_utils.ddpm``)."""

"""The course's reference implementations, one import for every lesson.

Each lesson's solution notebook implements one of these components in front of
the learner; later lessons import the finished version from here instead of
re-typing it. The parity tests (``tests/components/test_reference_parity*.py``) check that each
solution notebook's component gives the same outputs as the one exported here, and
fail when a component a lesson asks for has no parity test.
The components themselves live in one module per concern (see each module's
docstring for the paper it follows).
"""

from course_utils.components.adagn import AdaGN
from course_utils.components.film import FiLM
from course_utils.components.score2d import ScoreNetworkWithFiLM
from course_utils.components.sinusoidal import sinusoidal_embedding
from course_utils.components.timestep_mlp import TimestepEmbedding
from course_utils.components.unets import UNetAdaGN, UNetScalar, UNetSimple, UNetSinusoidal
from course_utils.diffusion.vpsde import VPSDE, dsm_loss, reverse_sde_step

__all__ = [
    "sinusoidal_embedding",
    "TimestepEmbedding",
    "FiLM",
    "AdaGN",
    "ScoreNetworkWithFiLM",
    "UNetSimple",
    "UNetSinusoidal",
    "UNetScalar",
    "UNetAdaGN",
    "VPSDE",
    "dsm_loss",
    "reverse_sde_step",
]

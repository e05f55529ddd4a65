"""The course's reference implementations, one import for every lesson.

Each lesson's solution notebook implements one of these components in front of
the learner; later lessons import the finished version from here instead of
re-typing it. The parity tests (``tests/test_reference_parity*.py``) check that each
solution notebook's component gives the same outputs as the one exported here, and
fail when a component a lesson asks for has no parity test.
The components themselves live in one module per concern (see each module's
docstring for the paper it follows).
"""

from .adagn import AdaGN
from .film import FiLM
from .score2d import ScoreNetworkWithFiLM
from .sinusoidal import sinusoidal_embedding
from .timestep_mlp import TimestepEmbedding
from .unets import UNetAdaGN, UNetScalar, UNetSimple, UNetSinusoidal
from .vpsde import VPSDE, dsm_loss, reverse_sde_step

__all__ = ["sinusoidal_embedding", "TimestepEmbedding", "FiLM", "AdaGN", "ScoreNetworkWithFiLM",
           "UNetSimple", "UNetSinusoidal", "UNetScalar", "UNetAdaGN", "VPSDE", "dsm_loss", "reverse_sde_step"]

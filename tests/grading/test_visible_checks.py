"""Every listed learner mistake fails its visible check, naming the misconception; equivalents pass everything.

Lesson by lesson, ``MISTAKES`` lists plausible wrong answers to each exercise (those reported in
issue 12 and more: each convention, broadcast, sign, scale and order of operations the lesson
teaches), each with the keyword its visible-check message must contain. ``EQUIVALENTS`` lists
correct answers written differently; each must pass the visible checks *and* score full marks on
the hidden tests (probe run in-process, judged by the lesson's ``[judge]`` blocks, tests/visiblekit.py).
``CASCADES``: a mistake fails only the hidden tests about its own concern.
"""

from __future__ import annotations

import pytest

from visiblekit import hidden_verdicts, mutate, solution, visible_message

pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # tiny models: one thread is fastest on a shared CPU

L01, L02, L03, L04, L05 = (
    "01_sinusoidal_embedding",
    "02_timestep_mlp_film",
    "03_adaptive_group_norm",
    "04_mnist_simple_vs_sinusoidal",
    "05_film_score_network_2d",
)
S01 = "sinusoidal_impl"


def _l01(*edits):
    return (L01, S01, mutate(solution(L01, S01), *edits))


OMEGA = "omega = torch.exp(-math.log(10000.0) * i / half)"
CAT = "emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)"

# name -> (assignment, exercise id, answer source, keyword the visible message must contain)
MISTAKES = {
    "01 DDPM grid half - 1": (
        *_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * i / (half - 1))")),
        "[frequency grid]",
    ),
    "01 misread 2i / half": (
        *_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * 2 * i / half)")),
        "[frequency grid]",
    ),
    "01 exponent over d_emb": (*_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * i / d_emb)")), "[frequency grid]"),
    "01 missing minus sign": (*_l01((OMEGA, "omega = torch.exp(math.log(10000.0) * i / half)")), "[frequency grid]"),
    "01 integer power overflows": (
        *_l01((OMEGA, "omega = 1.0 / (10000 ** torch.arange(0, d_emb, 2, device=t.device)) ** (1.0 / d_emb)")),
        "[frequency grid]",
    ),
    "01 interleaved layout": (
        *_l01((CAT, "emb = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(t.shape[0], -1)")),
        "[interleaved]",
    ),
    "01 cos before sin": (
        *_l01((CAT, "emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)")),
        "[cos first]",
    ),
    "01 missing [:, None]": (*_l01(("angles = t[:, None] * omega[None, :]", "angles = t * omega")), "[outer product]"),
    "01 no zero column for odd d": (*_l01(("emb = F.pad(emb, (0, 1))", "pass")), "[odd d_emb]"),
    "01 .long() truncates 7.5": (*_l01(("t = t.to(torch.float32)", "t = t.long().float()")), "[fractional t]"),
    "01 computes in t's dtype": (
        *_l01(
            ("t = t.to(torch.float32)", "t = t if t.is_floating_point() else t.float()"),
            ("i = torch.arange(half, dtype=torch.float32", "i = torch.arange(half, dtype=t.dtype"),
        ),
        "[convert before arithmetic]",
    ),
    "01 frequencies on the CPU": (*_l01(("dtype=torch.float32, device=t.device)", "dtype=torch.float32)")), "[device]"),
    "01 Python numbers rejected": (
        *_l01(("t = torch.tensor([float(t)])", "raise TypeError('t must be a tensor')")),
        "[python number]",
    ),
    "01 0-d tensor not reshaped": (*_l01(("t = t.reshape(1)", "pass")), "[0-d tensor]"),
}

EQUIVALENTS = {
    "01 ** instead of exp": (*_l01((OMEGA, "omega = 10000.0 ** (-i / half)")),),
    "01 float64 then cast": (
        *_l01(
            ("t = t.to(torch.float32)", "t = t.to(torch.float64)"),
            ("i = torch.arange(half, dtype=torch.float32", "i = torch.arange(half, dtype=torch.float64"),
            ("    if d_emb % 2 == 1:", "    emb = emb.float()\n    if d_emb % 2 == 1:"),
        ),
    ),
    "01 outer and cat with a zeros column": (
        *_l01(
            ("angles = t[:, None] * omega[None, :]", "angles = torch.outer(t, omega)"),
            (
                "emb = F.pad(emb, (0, 1))",
                "emb = torch.cat([emb, torch.zeros(emb.shape[0], 1, device=t.device)], dim=1)",
            ),
        ),
    ),
}


# name -> the graded cells it may fail (its own concern); every other cell of the exercise must pass
CASCADES = {
    "01 DDPM grid half - 1": {"check_sinusoidal_basics", "hidden_sinusoidal_values"},
    "01 misread 2i / half": {"check_sinusoidal_basics", "hidden_sinusoidal_values"},
}


# --- lesson 02 ---------------------------------------------------------------------------------------
TE, FILM = "timestep_embedding_impl", "film_impl"


def _l02(exercise, *edits):
    return (L02, exercise, mutate(solution(L02, exercise), *edits))


MLP = "return self.mlp(sinusoidal_embedding(t, self.d_sinusoidal))"
CHUNK = "scale, shift = self.proj(t_emb).chunk(2, dim=-1)"
RET = "return scale * h + shift"
MISTAKES.update(
    {
        "02 GELU tanh approximation": (*_l02(TE, ("nn.GELU(),", "nn.GELU(approximate='tanh'),")), "[exact GELU]"),
        "02 extra GELU after the last Linear": (
            *_l02(TE, ("nn.Linear(d_emb, d_emb),\n", "nn.Linear(d_emb, d_emb),\n            nn.GELU(),\n")),
            "[nothing after the last Linear]",
        ),
        "02 F.silu in forward": (
            *_l02(
                TE,
                ("            nn.GELU(),\n", ""),
                (
                    "nn.Linear(d_emb, d_emb),\n        )",
                    "nn.Linear(d_emb, d_emb),\n        )\n        self.first, self.second = self.mlp[0], self.mlp[1]",
                ),
                (MLP, "return self.second(F.silu(self.first(sinusoidal_embedding(t, self.d_sinusoidal))))"),
            ),
            "[exact GELU]",
        ),
        "02 ReLU instead of GELU": (*_l02(TE, ("nn.GELU(),", "nn.ReLU(),")), "[activation]"),
        "02 no bias": (
            *_l02(
                TE,
                ("nn.Linear(d_sinusoidal, d_emb)", "nn.Linear(d_sinusoidal, d_emb, bias=False)"),
                ("nn.Linear(d_emb, d_emb)", "nn.Linear(d_emb, d_emb, bias=False)"),
            ),
            "[layer sizes]",
        ),
        "02 t scaled before encoding": (
            *_l02(TE, (MLP, "return self.mlp(sinusoidal_embedding(t / 1000, self.d_sinusoidal))")),
            "[sinusoidal encoding]",
        ),
        "02 cos-first own encoding": (
            *_l02(
                TE,
                (
                    MLP,
                    "e = sinusoidal_embedding(t, self.d_sinusoidal)\n"
                    "        return self.mlp(torch.cat([e[:, 128:], e[:, :128]], dim=-1))",
                ),
            ),
            "[sinusoidal encoding]",
        ),
        "02 FiLM (1 + scale) with zero bias": (
            *_l02(
                FILM,
                ("self.proj.bias[:feature_dim] = 1.0", "self.proj.bias[:feature_dim] = 0.0"),
                (RET, "return (1 + scale) * h + shift"),
            ),
            "[1 + scale]",
        ),
        "02 FiLM (1 + scale) with the identity bias": (
            *_l02(FILM, (RET, "return (1 + scale) * h + shift")),
            "[1 + scale]",
        ),
        "02 FiLM shift and scale swapped": (
            *_l02(
                FILM,
                (CHUNK, "shift, scale = self.proj(t_emb).chunk(2, dim=-1)"),
                ("self.proj.bias[:feature_dim] = 1.0", "self.proj.bias[feature_dim:] = 1.0"),
                ("self.proj.bias[feature_dim:] = 0.0", "self.proj.bias[:feature_dim] = 0.0"),
            ),
            "[scale first]",
        ),
        "02 FiLM scale[:, None, None, :]": (
            *_l02(
                FILM,
                (
                    "scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)",
                    "scale = scale[:, None, None, :] if h.dim() == 4 else scale",
                ),
                (
                    "shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)",
                    "shift = shift[:, None, None, :] if h.dim() == 4 else shift",
                ),
            ),
            "[broadcast]",
        ),
        "02 FiLM two Linear layers": (
            *_l02(
                FILM,
                (
                    "self.proj = nn.Linear(time_dim, 2 * feature_dim)",
                    "self.proj = nn.Linear(time_dim, 2 * feature_dim)\n"
                    "        self.extra = nn.Linear(time_dim, 2 * feature_dim)",
                ),
            ),
            "[one Linear]",
        ),
        "02 FiLM no identity initialisation": (
            *_l02(FILM, ("self.proj.weight.zero_()", "pass")),
            "[identity initialisation]",
        ),
        "02 FiLM SiLU on t_emb": (
            *_l02(FILM, (CHUNK, "scale, shift = self.proj(F.silu(t_emb)).chunk(2, dim=-1)")),
            "[linear in t_emb]",
        ),
        "02 FiLM sigmoid on the scale": (
            *_l02(FILM, (RET, "return torch.sigmoid(scale) * h + shift")),
            "[identity initialisation]",
        ),
    }
)

EQUIVALENTS.update(
    {
        "02 separate attributes and F.gelu": (
            *_l02(
                TE,
                (
                    "self.mlp = nn.Sequential(\n            nn.Linear(d_sinusoidal, d_emb),\n"
                    "            nn.GELU(),\n            nn.Linear(d_emb, d_emb),\n        )",
                    "self.fc1 = nn.Linear(d_sinusoidal, d_emb)\n        self.fc2 = nn.Linear(d_emb, d_emb)",
                ),
                (MLP, "return self.fc2(F.gelu(self.fc1(sinusoidal_embedding(t, self.d_sinusoidal))))"),
            ),
        ),
        "02 GELU written with erf": (
            *_l02(
                TE,
                ("nn.GELU(),\n", ""),
                (
                    MLP,
                    "h = self.mlp[0](sinusoidal_embedding(t, self.d_sinusoidal))\n"
                    "        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2.0)))\n"
                    "        return self.mlp[1](h)",
                ),
            ),
        ),
        "02 FiLM split and view": (
            *_l02(
                FILM,
                (CHUNK, "scale, shift = torch.split(self.proj(t_emb), self.feature_dim, dim=-1)"),
                (
                    "scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)",
                    "scale = scale.view(*scale.shape, *spatial)",
                ),
                (
                    "shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)",
                    "shift = shift.view(*shift.shape, *spatial)",
                ),
            ),
        ),
        "02 FiLM addcmul and nn.init": (
            *_l02(
                FILM,
                (RET, "return torch.addcmul(shift, scale, h)"),
                ("self.proj.weight.zero_()", "nn.init.zeros_(self.proj.weight)"),
            ),
        ),
        "02 FiLM while-unsqueeze": (
            *_l02(
                FILM,
                (
                    "scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)",
                    "while scale.dim() < h.dim():\n            scale = scale.unsqueeze(-1)",
                ),
                (
                    "shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)",
                    "while shift.dim() < h.dim():\n            shift = shift.unsqueeze(-1)",
                ),
            ),
        ),
    }
)
CASCADES.update(
    {
        "02 extra GELU after the last Linear": {"hidden_timestep_activation"},
        "02 GELU tanh approximation": {"hidden_timestep_activation"},
        "02 cos-first own encoding": {"hidden_timestep_sinusoid"},
    }
)


# --- lesson 03 ---------------------------------------------------------------------------------------
ADA = "adagn_impl"


def _l03(*edits):
    return (L03, ADA, mutate(solution(L03, ADA), *edits))


NORM = "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)"
SPLIT = "gamma, beta = self.proj(t_emb).chunk(2, dim=-1)"
MISTAKES.update(
    {
        "03 gamma and beta swapped": (
            *_l03((SPLIT, "beta, gamma = self.proj(t_emb).chunk(2, dim=-1)")),
            "[gamma first]",
        ),
        "03 SiLU on t_emb": (
            *_l03((SPLIT, "gamma, beta = self.proj(F.silu(t_emb)).chunk(2, dim=-1)")),
            "[linear in t_emb]",
        ),
        "03 missing 1 +": (*_l03(("return (1 + gamma) * h + beta", "return gamma * h + beta")), "[1 + gamma]"),
        "03 GroupNorm keeps affine": (
            *_l03((NORM, "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5)")),
            "[affine=False]",
        ),
        "03 one group per channel": (
            *_l03((NORM, "self.norm = nn.GroupNorm(num_channels, num_channels, eps=1e-5, affine=False)")),
            "[groups]",
        ),
        "03 one group (LayerNorm-like)": (
            *_l03((NORM, "self.norm = nn.GroupNorm(1, num_channels, eps=1e-5, affine=False)")),
            "[groups]",
        ),
        "03 BatchNorm instead of GroupNorm": (
            *_l03((NORM, "self.norm = nn.BatchNorm2d(num_channels, eps=1e-5, affine=False)")),
            "[groups]",
        ),
        "03 gamma[:, None, None, :]": (
            *_l03(
                ("gamma = gamma[:, :, None, None]", "gamma = gamma[:, None, None, :]"),
                ("beta = beta[:, :, None, None]", "beta = beta[:, None, None, :]"),
            ),
            "[broadcast]",
        ),
        "03 an extra Linear for beta": (
            *_l03(
                (
                    "self.proj = nn.Linear(d_emb, 2 * num_channels)",
                    "self.proj = nn.Linear(d_emb, 2 * num_channels)\n"
                    "        self.beta_proj = nn.Linear(d_emb, num_channels)",
                )
            ),
            "[one Linear]",
        ),
        "03 tanh on gamma": (
            *_l03(("return (1 + gamma) * h + beta", "return (1 + torch.tanh(gamma)) * h + beta")),
            "[(1 + gamma) * h + beta]",
        ),
    }
)
EQUIVALENTS.update(
    {
        "03 split, reshape and addcmul": (
            *_l03(
                (SPLIT, "gamma, beta = torch.split(self.proj(t_emb), self.proj.out_features // 2, dim=-1)"),
                ("gamma = gamma[:, :, None, None]", "gamma = gamma.reshape(*gamma.shape, 1, 1)"),
                ("beta = beta[:, :, None, None]", "beta = beta.reshape(*beta.shape, 1, 1)"),
                ("return (1 + gamma) * h + beta", "return torch.addcmul(beta, 1 + gamma, h)"),
            ),
        ),
        "03 h + gamma * h + beta, unsqueeze": (
            *_l03(
                ("gamma = gamma[:, :, None, None]", "gamma = gamma.unsqueeze(-1).unsqueeze(-1)"),
                ("beta = beta[:, :, None, None]", "beta = beta.unsqueeze(-1).unsqueeze(-1)"),
                ("return (1 + gamma) * h + beta", "return h + gamma * h + beta"),
            ),
        ),
        "03 GroupNorm by keywords, default eps": (
            *_l03((NORM, "self.norm = nn.GroupNorm(num_groups=num_groups, num_channels=num_channels, affine=False)")),
        ),
    }
)
CASCADES.update(
    {
        "03 gamma and beta swapped": {"check_adagn", "hidden_adagn_values"},
        "03 SiLU on t_emb": {"hidden_adagn_values"},
    }
)


# --- lesson 04 ---------------------------------------------------------------------------------------
UNET = "unet_sinusoidal_impl"


def _l04(*edits):
    return (L04, UNET, mutate(solution(L04, UNET), *edits))


ADD = "b = b + t_vec.view(-1, 256, 1, 1)"
TVEC = "t_vec = self.time_proj(self.time_embed(t))"
MISTAKES.update(
    {
        "04 time vector on the first 128 channels": (
            *_l04((ADD, "b = torch.cat([b[:, :128] + t_vec[:, :128, None, None], b[:, 128:]], dim=1)")),
            "[every channel]",
        ),
        "04 time vector zero-padded like UNetSimple": (
            *_l04((ADD, "b = b + F.pad(t_vec[:, :128], (0, 128)).view(-1, 256, 1, 1)")),
            "[every channel]",
        ),
        "04 first image's time vector for all": (*_l04((ADD, "b = b + t_vec[:1].view(1, 256, 1, 1)")), "[own t]"),
        "04 batch-mean time vector": (*_l04((ADD, "b = b + t_vec.mean(dim=0).view(1, 256, 1, 1)")), "[own t]"),
        "04 time vector not reshaped": (*_l04((ADD, "b = b + t_vec")), "[broadcast]"),
        "04 added in place": (*_l04((ADD, "b += t_vec.view(-1, 256, 1, 1)")), "[in place]"),
        "04 t scaled to [0, 1]": (
            *_l04((TVEC, "t_vec = self.time_proj(self.time_embed(t.float() / 1000))")),
            "[t as given]",
        ),
        "04 time vector detached": (*_l04((TVEC, "t_vec = self.time_proj(self.time_embed(t)).detach()")), "[gradient]"),
        "04 time vector unused": (*_l04((ADD, "b = b")), "[uses t]"),
        "04 time_proj renamed": (
            *_l04(
                ("self.time_proj = nn.Linear(512, 256)", "self.proj = nn.Linear(512, 256)"),
                (TVEC, "t_vec = self.proj(self.time_embed(t))"),
            ),
            "[layer names]",
        ),
        "04 UNetSimple's time embedding": (
            *_l04(
                (
                    "self.time_embed = TimestepEmbedding(256, 512)\n        self.time_proj = nn.Linear(512, 256)",
                    "self.time_embed = SimpleTimestepEmbed(d_emb=128)\n        self.time_proj = nn.Linear(128, 256)",
                )
            ),
            "[layer sizes]",
        ),
    }
)
EQUIVALENTS.update(
    {
        "04 subclass of UNetSimple": (
            L04,
            UNET,
            """class UNetSinusoidal(UNetSimple):
    def __init__(self):
        super().__init__()
        self.time_embed = TimestepEmbedding(256, 512)
        self.time_proj = nn.Linear(512, 256)

    def time_offset(self, t):
        return self.time_proj(self.time_embed(t))  # (B,) -> (B, 512) -> (B, 256)
""",
        ),
        "04 reshape with None indexing": (*_l04((ADD, "b = b + t_vec[:, :, None, None]")),),
    }
)
CASCADES.update(
    {
        "04 time vector on the first 128 channels": {
            "check_unet_sinusoidal",
            "hidden_unet_all_channels",
            "hidden_unet_values",
        },
    }
)


# --- lesson 05 ---------------------------------------------------------------------------------------
FWD, DSM, REV = "film_forward_impl", "dsm_loss_impl", "reverse_step_impl"


def _l05(exercise, *edits):
    return (L05, exercise, mutate(solution(L05, exercise), *edits))


BLOCK = "h = self.act(scale * h + shift)"
DRIFT = "drift = -0.5 * beta * x - beta * model(x, t_batch)"
MISTAKES.update(
    {
        "05 (1 + scale)": (*_l05(FWD, (BLOCK, "h = self.act((1 + scale) * h + shift)")), "[1 + scale]"),
        "05 shift and scale swapped": (
            *_l05(FWD, ("scale, shift = film(t_emb)", "shift, scale = film(t_emb)")),
            "[scale first]",
        ),
        "05 FiLM after the activation": (*_l05(FWD, (BLOCK, "h = scale * self.act(h) + shift")), "[FiLM before SiLU]"),
        "05 t fed unscaled": (
            *_l05(FWD, ("t_emb = self.time_embedding(t)", "t_emb = sinusoidal_embedding(t, self.time_dim)")),
            "[t_scale]",
        ),
        "05 FiLM on the output layer": (
            *_l05(FWD, ("return self.output(h)", "return self.output(h) * scale[:, :2]")),
            "[plain output layer]",
        ),
        "05 t concatenated to x": (*_l05(FWD, ("h = x\n", "h = x + t[:, None]\n")), "[t only through FiLM]"),
        "05 no SiLU": (*_l05(FWD, (BLOCK, "h = scale * h + shift")), "[Linear -> FiLM -> SiLU]"),
        "05 DSM averaged over coordinates": (
            *_l05(DSM, ("return residual.pow(2).sum(dim=1).mean()", "return residual.pow(2).mean()")),
            "[sum over coordinates]",
        ),
        "05 DSM without sigma weighting": (
            *_l05(DSM, ("residual = sigma * model(x_t, t) + noise", "residual = model(x_t, t) + noise / sigma")),
            "[sigma * s + z]",
        ),
        "05 DSM target sign": (
            *_l05(DSM, ("residual = sigma * model(x_t, t) + noise", "residual = sigma * model(x_t, t) - noise")),
            "[target -z / sigma]",
        ),
        "05 DSM x_t with the variance": (
            *_l05(DSM, ("x_t = alpha * x0 + sigma * noise", "x_t = alpha * x0 + sigma ** 2 * noise")),
            "[noisy point x_t]",
        ),
        "05 DSM t on [0, 1]": (
            *_l05(
                DSM,
                (
                    "t = sde.eps + (1.0 - sde.eps) * torch.rand(batch, device=x0.device)",
                    "t = torch.rand(batch, device=x0.device) * 0.999",
                ),
            ),
            "[t in [eps, 1]]",
        ),
        "05 DSM discrete t": (
            *_l05(
                DSM,
                (
                    "t = sde.eps + (1.0 - sde.eps) * torch.rand(batch, device=x0.device)",
                    "t = torch.randint(1, 1001, (batch,), device=x0.device) / 1000",
                ),
            ),
            "[continuous t]",
        ),
        "05 DSM uniform noise": (
            *_l05(DSM, ("noise = torch.randn_like(x0)", "noise = torch.rand_like(x0)")),
            "[standard normal noise]",
        ),
        "05 DSM model sees 1000 t": (
            *_l05(DSM, ("residual = sigma * model(x_t, t) + noise", "residual = sigma * model(x_t, 1000 * t) + noise")),
            "[model input t]",
        ),
        "05 reverse step: probability-flow half score": (
            *_l05(REV, (DRIFT, "drift = -0.5 * beta * x - 0.5 * beta * model(x, t_batch)")),
            "[probability flow]",
        ),
        "05 reverse step: score sign": (
            *_l05(REV, (DRIFT, "drift = -0.5 * beta * x + beta * model(x, t_batch)")),
            "[score sign]",
        ),
        "05 reverse step: forward in time": (
            *_l05(REV, ("return x - drift * dt", "return x + drift * dt")),
            "[direction]",
        ),
        "05 reverse step: no forward drift": (
            *_l05(REV, (DRIFT, "drift = -beta * model(x, t_batch)")),
            "[forward drift]",
        ),
        "05 reverse step: noise sqrt(beta) dt": (
            *_l05(REV, ("torch.sqrt(beta * dt) * noise", "torch.sqrt(beta) * dt * noise")),
            "[noise scale]",
        ),
        "05 reverse step: float t to the model": (*_l05(REV, ("model(x, t_batch)", "model(x, t)")), "[t as a tensor]"),
    }
)
EQUIVALENTS.update(
    {
        "05 unrolled blocks with F.silu and addcmul": (
            *_l05(
                FWD,
                (
                    "for layer, film in ((self.layer1, self.film1), (self.layer2, self.film2), (self.layer3, self.film3)):\n"
                    "            h = layer(h)  # (B, hidden_dim)\n"
                    "            scale, shift = film(t_emb).chunk(2, dim=-1)  # (B, 2 * hidden_dim) -> 2 x (B, hidden_dim)\n"
                    "            h = self.act(scale * h + shift)",
                    "s1, b1 = torch.split(self.film1(t_emb), self.layer1.out_features, dim=-1)\n"
                    "        h = F.silu(torch.addcmul(b1, s1, self.layer1(h)))\n"
                    "        s2, b2 = self.film2(t_emb).chunk(2, dim=-1)\n"
                    "        h = F.silu(s2 * self.layer2(h) + b2)\n"
                    "        s3, b3 = self.film3(t_emb).chunk(2, dim=-1)\n"
                    "        h = self.act(s3 * self.layer3(h) + b3)",
                ),
            ),
        ),
        "05 DSM with ** and explicit sqrt": (
            *_l05(
                DSM,
                ("sigma = sde.marginal_std(t)[:, None]", "sigma = torch.sqrt(1 - sde.alpha(t) ** 2)[:, None]"),
                ("return residual.pow(2).sum(dim=1).mean()", "return (residual ** 2).sum(-1).mean()"),
            ),
        ),
        "05 DSM with the score target": (
            *_l05(
                DSM,
                (
                    "residual = sigma * model(x_t, t) + noise  # sigma * (s - target), target = -noise / sigma",
                    "target = -noise / sigma\n    residual = sigma * (model(x_t, t) - target)",
                ),
            ),
        ),
        "05 reverse step as x + (...) dt": (
            *_l05(
                REV,
                (
                    "return x - drift * dt + torch.sqrt(beta * dt) * noise",
                    "return x + (0.5 * beta * x + beta * model(x, t_batch)) * dt + (beta * dt) ** 0.5 * noise",
                ),
            ),
        ),
    }
)
CASCADES.update(
    {
        "05 reverse step: probability-flow half score": {"check_reverse_step", "hidden_reverse_step"},
    }
)


# --- the tests ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_fails_its_visible_check_naming_the_misconception(name):
    assignment, exercise, answer, keyword = MISTAKES[name]
    message = visible_message(assignment, exercise, answer)
    assert message is not None, f"{name}: the visible checks passed"
    assert keyword in message, f"{name}: expected {keyword!r} in the message, got: {message}"


@pytest.mark.parametrize("name", sorted(EQUIVALENTS))
def test_equivalent_answer_passes_visible_and_hidden_checks(name, monkeypatch):
    assignment, exercise, answer = EQUIVALENTS[name]
    assert visible_message(assignment, exercise, answer) is None, visible_message(assignment, exercise, answer)
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    assert all(v.passed for v in verdicts.values()), {g: v.message for g, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize("assignment,exercise", sorted({(a, e) for a, e, *_ in MISTAKES.values()}))
def test_solution_passes_visible_and_hidden_checks(assignment, exercise, monkeypatch):
    answer = solution(assignment, exercise)
    assert visible_message(assignment, exercise, answer) is None, visible_message(assignment, exercise, answer)
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    assert all(v.passed for v in verdicts.values()), {g: v.message for g, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize("name", sorted(CASCADES))
def test_mistake_fails_only_the_hidden_tests_about_its_concern(name, monkeypatch):
    assignment, exercise, answer, _ = MISTAKES[name]
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    failed = {g for g, v in verdicts.items() if not v.passed}
    assert failed, f"{name} fails no hidden test"
    assert failed <= CASCADES[name], {g: verdicts[g].message for g in failed - CASCADES[name]}


def test_enough_mistakes_and_equivalents_are_listed():
    assert len(MISTAKES) >= 40 and len(EQUIVALENTS) >= 15
    assert {a for a, *_ in MISTAKES.values()} == {L01, L02, L03, L04, L05}


def test_lesson03_filling_init_alone_builds_the_module_and_forward_says_what_is_left():
    from course_utils.lessons import by_id
    from course_utils.grading.course import REPO_ROOT
    import nbformat
    import torch
    from torch import nn

    nb = nbformat.read(REPO_ROOT / by_id(L03).student, as_version=4)
    stub = next(c.source for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("grade_id") == ADA)
    assert stub.count("raise NotImplementedError()") == 2, stub  # one per method, not one per TODO
    filled = stub.replace(
        "raise NotImplementedError()",
        "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)\n"
        "        self.proj = nn.Linear(d_emb, 2 * num_channels)",
        1,
    )
    ns = {"torch": torch, "nn": nn}
    exec(filled, ns)
    module = ns["AdaGN"](64, 512)  # __init__ done: building works
    with pytest.raises(NotImplementedError):
        module(torch.zeros(1, 64, 4, 4), torch.zeros(1, 512))

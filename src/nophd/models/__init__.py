"""Model builders by name: the MNIST ladder's (their recipes are nophd.presets).

Example:
    from nophd import models
    model = models.build("conv-bn")
"""

from nophd.models.registry import build, get, names  # noqa: F401

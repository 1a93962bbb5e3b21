"""Known-failure rules: log signatures, what they mean, and the plan change that fixes them."""

from .table import RULES, Rule
from .transforms import Stop

__all__ = ["RULES", "Rule", "Stop"]

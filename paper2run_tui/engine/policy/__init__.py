"""The plan policy: one function, check_plan, that every plan passes before it is rendered."""

from ..contracts.policy import PolicyContext, PolicyFinding, PolicyVerdict
from .check import check_plan

__all__ = ["PolicyContext", "PolicyFinding", "PolicyVerdict", "check_plan"]

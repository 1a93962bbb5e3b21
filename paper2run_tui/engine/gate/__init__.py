"""Gate: every plan passes a decision — a person's (approve / edit / reject) or the policy's."""

from .policy import PolicyReviewer, decide

__all__ = ["PolicyReviewer", "decide"]

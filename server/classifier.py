"""The optional classifier (filter.classifier = "profanity-check"): alt-profanity-check's
English linear model, which ships inside its package (the extra barrage[classifier]).

It only holds a barrage for review (server/core/filters.py), never rejects: a linear model
over English words misreads names, other languages and irony, so a human decides.
"""

from __future__ import annotations

from server.core.filters import Classifier


def create_classifier(name: str) -> Classifier | None:
    """The configured classifier; None when filter.classifier is empty. The config checked
    at start that the package is installed."""
    if not name:
        return None
    from profanity_check import predict_prob  # imported only when configured: it loads scikit-learn

    def score(text: str) -> float:
        return float(predict_prob([text])[0])

    return score

"""Lightning glue: one LightningModule for classification, and its perceptron-rule variant."""

from .classifier import Classifier, PerceptronClassifier

__all__ = ["Classifier", "PerceptronClassifier"]

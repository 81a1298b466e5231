"""TensorFlow 1 signatures (``tf.compat.v1.image``): see :mod:`xcrop.compat.v1`."""

from . import v1

__all__ = ["v1"]

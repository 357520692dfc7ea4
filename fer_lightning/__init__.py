"""fer_lightning: reproduce, sweep and compare facial-expression recognition models on FER-2013."""

from fer_lightning.resolvers import register_resolvers

register_resolvers()

__version__ = "0.1.0"

"""Product categories learnt from product descriptions."""

from shopseg.products._categories import ProductCategorizer, normalize_description

__all__ = ["ProductCategorizer", "normalize_description"]

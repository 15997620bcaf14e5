"""OFFSIDE data layer shared by offside_eval and offside_train."""
from .loader import data_fingerprint, load_items, resolve_data_root
from .schema import INFOS, SPLITS, DataError, OffsideItem, split_of_image_id, validate_item
from .views import SETTINGS, as_text_only, view

__all__ = ["INFOS", "SETTINGS", "SPLITS", "DataError", "OffsideItem", "as_text_only", "data_fingerprint",
           "load_items", "resolve_data_root", "split_of_image_id", "validate_item", "view"]

"""Stage 6: RFM segments and behavioural (k-means) segments of customers."""

from ._profiles import profile_segments
from ._rfm import RFM_SEGMENTS, rank_scores, rfm_scores, rfm_segment
from ._segmenter import CustomerSegmenter, default_features

__all__ = [
    "RFM_SEGMENTS",
    "CustomerSegmenter",
    "default_features",
    "profile_segments",
    "rank_scores",
    "rfm_scores",
    "rfm_segment",
]

"""Sample data: the synthetic CPA phantom (nvcview_sample), with and without its truth."""

from __future__ import annotations

import copy
import functools

from napari_nvcview.layers import LayerDataTuple, session_layers
from nvcview.case import CaseSession
from nvcview.review.model import Review


def phantom_session(with_truth: bool = True, phantom=None, **phantom_kwargs) -> CaseSession:
    """The phantom as a session: T2, TOF and (optionally) the ground-truth review.

    Parameters
    ----------
    with_truth : bool
        Include the ground-truth structures, label map, landmarks and centreline.
    phantom : nvcview_sample.Phantom, optional
        A phantom already built (default: ``make_phantom(**phantom_kwargs)``).
    """
    from nvcview_sample import make_phantom

    ph = phantom if phantom is not None else make_phantom(**phantom_kwargs)
    review = Review(case_id="phantom", side=ph.truth.get("side", "left"))
    session = CaseSession(t2=ph.t2, tof=ph.tof, review=review)
    if with_truth:
        review.reader = "truth"
        review.structures = list(ph.structures)
        review.landmarks = {k: [float(v) for v in p] for k, p in ph.landmarks.items()}
        review.nerve_path_lps = [[float(v) for v in p] for p in ph.centreline]
        session.labels = ph.labels.array.astype("uint16")
    return session


@functools.lru_cache(maxsize=1)
def _default_phantom():
    """The default phantom, built once per process (a few seconds; ~2 MB kept)."""
    from nvcview_sample import make_phantom

    return make_phantom()


def sample_phantom_copy():
    """A private copy of the cached default phantom: edits of one opened sample never
    reach the next (the arrays are copied, milliseconds at 48 x 90 x 90)."""
    return copy.deepcopy(_default_phantom())


def sample_phantom() -> list[LayerDataTuple]:
    """Phantom study: T2 (CISS-like), TOF and the ground-truth label map."""
    return session_layers(phantom_session(with_truth=True, phantom=sample_phantom_copy()))


def sample_phantom_blank() -> list[LayerDataTuple]:
    """Phantom study without annotations, to practise on (T2 + TOF only)."""
    return session_layers(phantom_session(with_truth=False, phantom=sample_phantom_copy()))

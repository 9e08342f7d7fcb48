"""Sub-voxel boundary of a labelled structure placed from the image intensities.

Used by the "image-edge" surface method (:mod:`nvcview.measure.surface`) where a
label came from the image (a grow or a threshold) and that image is at hand on the
label's grid (T2 for the nerve: dark nerve in bright CSF; T2 or TOF for vessels).

The field (inside > 0.5, like :func:`~nvcview.measure.surface.antialiased_field`):

1. The image, lightly denoised (Gaussian, :func:`denoise_sigma_vox`: 0.25 mm, at
   least half a voxel): the closest point of two surfaces is a minimum over many
   vertices, so surface noise would read every gap low.
2. Local intensity inside and outside the structure: Gaussian-weighted means
   (normalised convolution, :data:`EDGE_LOCAL_MM` mm) over the structure's voxels
   at least two voxels from its binary surface (:data:`PURE_CONNECTIVITY`), and over
   unlabelled (background, CSF) voxels as far from every label; partial volume does
   not reach them.
3. Other labelled structures near this one: their partial volume is taken off the
   image (their masks under the image's blur times their local intensity), so
   that a thin CSF gap between two dark structures, darkened by both, is not read
   as this one (without it a 0.3-1 mm gap could read up to a voxel low).
4. ``f = (I - I_out) / (I_in - I_out)``, clipped to [0, 1]: its 0.5 level is the
   half-way intensity, where a partial-volume voxel is half covered. Either
   contrast works (dark nerve in bright CSF, bright artery on TOF).
5. Constraints, so the edge can never run away: ``f = 1`` from one voxel inside the
   binary surface and ``f = 0`` from one voxel outside (the binary surface's
   signed distance in voxels, from distance transforms of the mask), and ``f = 0``
   on voxels of any other label (a dark neighbour is not this structure). Where
   the local contrast is below :data:`MIN_CNR` noise standard deviations the
   binary field is used instead (no edge to find).

A partial-volume image is the shape blurred by the voxel (a box, variance 1/12
voxel^2 per axis) and the denoising: its half-way level moves curved surfaces
inwards by ``1/2 tr(P Sigma P K)`` like the Gaussian anti-aliasing of a mask, with
:func:`edge_blur_vox` as ``Sigma``; the surface module undoes it the same way.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from scipy import ndimage

#: Gaussian denoising of the image before the edge is read: mm, at least this many
#: voxels per axis (chosen on the noisy capsule pairs of seed 100, checked on 300/500)
EDGE_DENOISE_MM = 0.25
EDGE_DENOISE_VOX = 0.5
#: Width (Gaussian sigma, mm) of the neighbourhood for the local inside / outside means
EDGE_LOCAL_MM = 1.5
#: Voxels whose neighbours up to the corners (connectivity 3: the other side at least 2
#: voxels away) are all on their side count as pure
PURE_CONNECTIVITY = 3
#: Below this contrast-to-noise ratio of inside vs outside the binary field is used
MIN_CNR = 3.0


def denoise_sigma_vox(spacing_mm: np.ndarray) -> tuple[float, float, float]:
    """Per-axis sigma (voxels) of the Gaussian denoising: :data:`EDGE_DENOISE_MM` mm,
    at least :data:`EDGE_DENOISE_VOX` voxel."""
    sp = np.asarray(spacing_mm, dtype=np.float64)
    a, b, c = (float(v) for v in np.maximum(EDGE_DENOISE_VOX, EDGE_DENOISE_MM / sp))
    return a, b, c


def edge_blur_vox(spacing_mm: np.ndarray) -> tuple[float, float, float]:
    """Per-axis standard deviation (voxels) of the blur behind the edge field.

    The voxel's box (variance 1/12) and the denoising Gaussian
    (:func:`denoise_sigma_vox`): the ``sigma_vox`` with which the curvature shrinkage
    of the half-way level is undone.
    """
    a, b, c = (float(np.sqrt(1.0 / 12.0 + s**2)) for s in denoise_sigma_vox(spacing_mm))
    return a, b, c


def _clear(mask: np.ndarray, connectivity: int) -> np.ndarray:
    """Voxels of ``mask`` whose neighbours are all in it: face neighbours (connectivity
    1: the nearest voxel outside is >= sqrt(2) voxels away, index units), and edge
    neighbours (2: >= sqrt(3), i.e. the binary surface >= 1 voxel away) and corners
    (3: >= 2). The array's border does not count as outside."""
    st = ndimage.generate_binary_structure(3, connectivity)
    return ndimage.binary_erosion(mask, structure=st, border_value=1)


def _local_mean(
    values: np.ndarray, weight: np.ndarray, sigma_vox: np.ndarray, fallback: float
) -> np.ndarray:
    """Gaussian-weighted mean of ``values`` over ``weight`` (normalised convolution)."""
    # two sigmas of support: the weights only need to be local and smooth
    num = ndimage.gaussian_filter(values * weight, sigma_vox, mode="nearest", truncate=2.0)
    den = ndimage.gaussian_filter(weight, sigma_vox, mode="nearest", truncate=2.0)
    out = np.full(values.shape, fallback, dtype=np.float32)
    ok = den > 1e-3
    out[ok] = num[ok] / den[ok]
    return out


class EdgeWindow:
    """The image edge of the structures in one window of a label map.

    The denoised image, the local outside (background) intensity and each label's
    local intensity and blurred mask are computed once, when first needed, and shared
    by every structure measured in the window (a pair's two surfaces, the others'
    partial volume).

    Parameters
    ----------
    labels : numpy.ndarray
        Integer label map (a window of it).
    image : numpy.ndarray
        The image on the same grid and window (any intensity unit).
    spacing_mm : numpy.ndarray
        (3,) voxel spacing of the array axes, mm.
    """

    def __init__(self, labels: np.ndarray, image: np.ndarray, spacing_mm: np.ndarray) -> None:
        self.labels = labels
        self.raw = np.asarray(image, dtype=np.float32)
        self.spacing_mm = np.asarray(spacing_mm, dtype=np.float64)
        self.sigma_local = np.maximum(EDGE_LOCAL_MM / self.spacing_mm, 1.0)
        self.background = labels == 0
        self._img: np.ndarray | None = None
        self._out: tuple[np.ndarray, float] | None | bool = False
        self._parts: dict[int, tuple[np.ndarray, float, bool]] = {}
        self._blurred: dict[int, np.ndarray] = {}

    @property
    def denoised(self) -> np.ndarray:
        """The image under the denoising Gaussian (:func:`denoise_sigma_vox`)."""
        if self._img is None:
            self._img = ndimage.gaussian_filter(
                self.raw, denoise_sigma_vox(self.spacing_mm), mode="nearest", truncate=3.0
            )
        return self._img

    def _mean(self, where: np.ndarray) -> np.ndarray:
        # the means of the raw voxels: the denoised ones near a thin structure's surface
        # are already mixed with the other side
        return _local_mean(
            self.raw, where.astype(np.float32), self.sigma_local, float(self.raw[where].mean())
        )

    def outside(self) -> tuple[np.ndarray, float] | None:
        """Local background intensity and the variance of its pure voxels (None: too few)."""
        if self._out is False:
            pure = _clear(self.background, PURE_CONNECTIVITY)
            self._out = (
                (self._mean(pure), float(np.var(self.raw[pure]))) if pure.sum() >= 4 else None
            )
        return cast("tuple[np.ndarray, float] | None", self._out)

    def part(self, label: int) -> tuple[np.ndarray, float, bool]:
        """Local intensity of ``label``, the variance of its purest voxels, and whether
        there are enough of them (4) to read an edge from."""
        if label not in self._parts:
            mask = self.labels == label
            inside = _clear(mask, PURE_CONNECTIVITY)
            if inside.sum() < 4:  # a thin structure: its inner voxels are the purest there are
                inside = _clear(mask, 1)
            enough = bool(inside.sum() >= 4)
            if not inside.any():
                inside = mask
            self._parts[label] = (self._mean(inside), float(np.var(self.raw[inside])), enough)
        return self._parts[label]

    def blurred(self, label: int) -> np.ndarray:
        """The label's mask under the image's blur (:func:`edge_blur_vox`)."""
        if label not in self._blurred:
            self._blurred[label] = ndimage.gaussian_filter(
                (self.labels == label).astype(np.float32),
                edge_blur_vox(self.spacing_mm),
                mode="nearest",
                truncate=3.0,
            )
        return self._blurred[label]

    def field(self, label: int, binary_field: np.ndarray) -> np.ndarray:
        """Field whose 0.5 level is ``label``'s boundary read from the image.

        Parameters
        ----------
        label : int
            The structure's label value.
        binary_field : numpy.ndarray
            The binary estimate's field (anti-aliased mask, 0.5 level): returned itself
            where the image has no edge to read (too thin, no contrast).

        Returns
        -------
        numpy.ndarray
            float32 field of the window's shape, inside > 0.5, its 0.5 level within one
            voxel of the binary surface.
        """
        mask = self.labels == label
        if not mask.any() or mask.all():
            return binary_field
        i_in, var_in, enough = self.part(label)
        out = self.outside()
        if not enough or out is None:
            return binary_field
        i_out, var_out = out
        # the spread of single raw voxels (noise and shading): the edge must stand out of it
        noise = float(np.sqrt(0.5 * (var_in + var_out)))
        contrast = i_in - i_out
        ok = np.abs(contrast) >= MIN_CNR * max(noise, 1e-6)
        if not ok.any():
            return binary_field
        # other structures' partial volume darkens (or brightens) the voxels between
        # them and this one: take it off, each modelled as its mask under the image's
        # blur times its local intensity, so a thin CSF gap is not read as this one
        img = self.denoised
        other = ~mask & ~self.background
        for lab in np.unique(self.labels[other]) if other.any() else ():
            img = img - self.blurred(int(lab)) * (self.part(int(lab))[0] - i_out)
        f = np.clip((img - i_out) / np.where(ok, contrast, 1.0), 0.0, 1.0)
        # voxels at least one voxel from the binary surface (its signed distance from
        # the voxel centres >= 1: erosions, the sets a distance transform would give)
        f = np.where(_clear(mask, 2), 1.0, f)
        f = np.where(_clear(~mask, 2), 0.0, f)
        f = np.where(other, 0.0, f)  # another structure's voxel is not this one
        # no contrast (e.g. the nerve on TOF): the binary estimate there
        return np.where(ok, f, binary_field).astype(np.float32)


def image_edge_field(
    labels: np.ndarray,
    label: int,
    image: np.ndarray,
    spacing_mm: np.ndarray,
    binary_field: np.ndarray,
) -> np.ndarray:
    """Field whose 0.5 level is one structure's boundary read from the image
    (:meth:`EdgeWindow.field` of a window made for it alone).

    Parameters
    ----------
    labels : numpy.ndarray
        Integer label map (a window of it).
    label : int
        The structure's label value.
    image : numpy.ndarray
        The image on the same grid and window (any intensity unit).
    spacing_mm : numpy.ndarray
        (3,) voxel spacing of the array axes, mm (the local-mean neighbourhood).
    binary_field : numpy.ndarray
        The binary estimate's field, used where the image has no edge to read.

    Returns
    -------
    numpy.ndarray
        float32 field of ``labels``' shape, inside > 0.5, within one voxel of the
        binary surface.
    """
    return EdgeWindow(labels, image, spacing_mm).field(label, binary_field)

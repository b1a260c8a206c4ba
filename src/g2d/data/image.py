"""Image decoding (Pillow) and transforms: resize → scale to [0, 1] → normalise (deterministic, so
it can be cached); random crop / horizontal flip on whole batches, for training only and only when
asked (``augment``). Frame folders (one JPEG per frame) give (C, H, W) for one frame or
(T, C, H, W) for several, picked evenly spaced over the clip.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from g2d.paths import require_file, require_folder
from g2d.validation import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


#: Pillow modes of one high-bit-depth grey channel (16-bit PNG) and their full-scale value.
HIGH_DEPTH_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


def read_image(path: str | Path, channels: int = 3) -> Image.Image:
    """Fully decode an image (so truncation is found now) as RGB (3) or greyscale (1). A 16-bit grey
    image keeps its full range: it comes back as one float channel ("F") scaled to [0, 255], where
    converting it to 8 bits would saturate it to a few grey levels. A frame larger than Pillow's
    decompression-bomb limit is refused by name."""
    path = Path(path)
    require_file(path, "image file", DataError)
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in HIGH_DEPTH_GREY:
                scaled = np.asarray(img, dtype=np.float32) * (255.0 / HIGH_DEPTH_GREY[img.mode])
                return Image.fromarray(scaled, mode="F")
            return img.convert("RGB" if channels == 3 else "L")
    except Image.DecompressionBombError as err:
        raise DataError(f"image file {str(path)!r} is too large to decode safely ({err}); expected a frame of "
                        f"at most {Image.MAX_IMAGE_PIXELS} pixels — resize it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"image file {str(path)!r} is unreadable or truncated ({err}); "
                        f"expected a valid JPEG/PNG image") from None


def list_frames(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    require_folder(folder, "frame folder", DataError)
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not frames:
        raise DataError(f"frame folder {str(folder)!r} holds no images (expected *.jpg or *.png)")
    return frames


def even_picks(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``count`` items (centre of each equal segment)."""
    return [min(count - 1, int((k + 0.5) * count / wanted)) for k in range(wanted)]


@dataclass(frozen=True)
class ImageTransform:
    """Resize to ``resize``² (bilinear), scale to [0, 1], normalise with ``mean``/``std`` per channel.
    The crop to ``size`` happens per batch (:meth:`crop_batch`): centred, or random when augmenting."""

    channels: int = 3
    size: int = 112
    resize: int | None = None  # side before cropping; None = ``size`` (no crop)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels: expected 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"image mean/std: expected {self.channels} values each, got {self.mean} / {self.std}")
        if self.stored_side < self.size:
            raise ValueError(f"image resize ({self.resize}) must be >= image size ({self.size})")

    @property
    def stored_side(self) -> int:
        return self.resize or self.size

    def describe(self) -> str:
        crop = f", crop {self.size}x{self.size}" if self.stored_side != self.size else ""
        return (f"image: {'RGB' if self.channels == 3 else 'grey'}, resize {self.stored_side}x{self.stored_side} "
                f"bilinear{crop}, /255, normalise mean={list(self.mean)} std={list(self.std)}")

    def stored_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.stored_side, self.stored_side)

    def output_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def __call__(self, path: str | Path) -> np.ndarray:
        """Path -> (C, side, side) float32, normalised (not yet cropped)."""
        img = read_image(path, self.channels)
        img = img.resize((self.stored_side, self.stored_side), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        if arr.shape[2] != self.channels:  # a 16-bit grey image read for an RGB encoder
            arr = np.repeat(arr, self.channels, axis=2)
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def crop_batch(self, x: torch.Tensor, augment: bool, gen: torch.Generator | None = None) -> torch.Tensor:
        """(B, …, C, S, S) -> (B, …, C, size, size): centre crop, or per-sample random crop + flip."""
        side, size = x.shape[-1], self.size
        if not augment:
            top = (side - size) // 2
            return x[..., top:top + size, top:top + size]
        out = torch.empty(*x.shape[:-2], size, size, dtype=x.dtype)
        offsets = torch.randint(0, side - size + 1, (x.shape[0], 2), generator=gen)
        flips = torch.rand(x.shape[0], generator=gen) < 0.5
        for i in range(x.shape[0]):
            top, left = int(offsets[i, 0]), int(offsets[i, 1])
            patch = x[i, ..., top:top + size, left:left + size]
            out[i] = patch.flip(-1) if flips[i] else patch
        return out


@dataclass(frozen=True)
class FramesTransform:
    """A folder of frames -> ``num_frames`` evenly spaced frames through :class:`ImageTransform`."""

    image: ImageTransform
    num_frames: int = 1

    def describe(self) -> str:
        return f"frames: {self.num_frames} evenly spaced per clip; {self.image.describe()}"

    def stored_shape(self) -> tuple[int, ...]:
        shape = self.image.stored_shape()
        return shape if self.num_frames == 1 else (self.num_frames, *shape)

    def output_shape(self) -> tuple[int, ...]:
        shape = self.image.output_shape()
        return shape if self.num_frames == 1 else (self.num_frames, *shape)

    def __call__(self, folder: str | Path) -> np.ndarray:
        frames = list_frames(folder)
        picked = [self.image(frames[i]) for i in even_picks(len(frames), self.num_frames)]
        return picked[0] if self.num_frames == 1 else np.stack(picked)

"""Decoding and transforms on real WAV/JPEG encodings: resampling, spectrograms, crops, bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from g2d.data.audio import AudioTransform, read_wav, resample, tile_trim
from g2d.data.image import FramesTransform, ImageTransform, read_image
from g2d.validation import DataError


def tone(freq: float, rate: int, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate).astype(np.float32)


def test_resample_up_matches_the_analytic_sine():
    out = resample(tone(440, 8000), 8000, 16000)
    assert len(out) == 8000
    expected = tone(440, 16000)
    interior = slice(400, -400)  # away from the edges, where the kernel sees zeros
    assert np.max(np.abs(out[interior] - expected[interior])) < 5e-3


def test_resample_down_removes_what_would_alias_and_keeps_the_passband():
    kept = resample(tone(1000, 16000), 16000, 8000)
    aliased = resample(tone(5000, 16000), 16000, 8000)  # above the new Nyquist (4 kHz)
    rms = lambda x: float(np.sqrt(np.mean(x[200:-200] ** 2)))  # noqa: E731
    assert rms(kept) == pytest.approx(np.sqrt(0.5), rel=0.01)
    assert rms(aliased) < 0.01
    assert len(resample(tone(440, 22050, 1.0), 22050, 16000)) == 16000


def test_tile_trim_repeats_short_clips_and_cuts_long_ones():
    assert tile_trim(np.arange(3.0), 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert tile_trim(np.arange(10.0), 4).tolist() == [0, 1, 2, 3]


def test_read_wav_mixes_stereo_to_mono(tmp_path, files):
    stereo = np.stack([tone(300, 8000), -tone(300, 8000) * 0.5], axis=1)
    sf.write(str(tmp_path / "s.wav"), stereo, 8000, subtype="PCM_16")
    wave, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and wave.ndim == 1
    assert np.allclose(wave, stereo.mean(1), atol=1e-3)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_bad_wav_names_the_file(tmp_path, files, damage):
    path = files["wav"](tmp_path / "clip.wav")
    if damage == "truncate":
        files["truncate"](path)
    elif damage == "garbage":
        path.write_bytes(b"not a wav" * 20)
    else:
        path.unlink()
    with pytest.raises(DataError, match="clip.wav"):
        read_wav(path)


def test_audio_transform_shape_matches_its_declaration(tmp_path, files):
    path = files["wav"](tmp_path / "a.wav", seconds=0.4, rate=11025)
    t = AudioTransform(sample_rate=8000, seconds=0.5, n_fft=128, hop=40)
    out = t(path)
    assert out.shape == t.output_shape() == (1, 65, 101)
    assert np.isfinite(out).all() and out.min() >= 0  # log1p of a magnitude
    resized = AudioTransform(8000, 0.5, 128, 40, size=(32, 24))
    assert resized(path).shape == (1, 32, 24)
    assert "8000 Hz" in t.describe() and "n_fft=128" in t.describe()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_bad_jpeg_names_the_file(tmp_path, files, damage):
    path = files["jpg"](tmp_path / "f.jpg", side=64)
    if damage == "truncate":
        files["truncate"](path)
    else:
        path.write_bytes(b"\xff\xd8 not really" * 10)
    with pytest.raises(DataError, match="f.jpg"):
        read_image(path)


def test_image_transform_normalises_and_crops(tmp_path, files):
    Image.fromarray(np.full((30, 40, 3), 255, np.uint8)).save(tmp_path / "w.png")
    t = ImageTransform(channels=3, size=16, resize=20, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    stored = t(tmp_path / "w.png")
    assert stored.shape == t.stored_shape() == (3, 20, 20)
    assert np.allclose(stored, 2.0)  # (1 - 0.5) / 0.25
    batch = torch.arange(2 * 3 * 20 * 20, dtype=torch.float32).reshape(2, 3, 20, 20)
    centre = t.crop_batch(batch, augment=False)
    assert centre.shape == (2, 3, 16, 16) and torch.equal(centre, batch[..., 2:18, 2:18])
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = t.crop_batch(batch, True, g1), t.crop_batch(batch, True, g2)
    assert a.shape == (2, 3, 16, 16) and torch.equal(a, b)


def test_frames_pick_evenly_spaced_frames(tmp_path, files):
    for k in range(6):
        files["jpg"](tmp_path / "clip" / f"{k:03d}.jpg", value=20 * k, side=12, seed=k)
    one = FramesTransform(ImageTransform(channels=1, size=8, mean=(0.0,), std=(1.0,)), 1)(tmp_path / "clip")
    three = FramesTransform(ImageTransform(channels=1, size=8, mean=(0.0,), std=(1.0,)), 3)(tmp_path / "clip")
    assert one.shape == (1, 8, 8) and three.shape == (3, 1, 8, 8)
    assert three[0].mean() < three[1].mean() < three[2].mean()  # frames 1, 3, 5 in order
    with pytest.raises(DataError, match="holds no images"):
        (tmp_path / "empty").mkdir()
        FramesTransform(ImageTransform(), 1)(tmp_path / "empty")


@pytest.mark.parametrize("rate_in, rate_out", [(44100, 16000), (8000, 16000), (16000, 16000), (22050, 8000)])
def test_a_long_clip_trimmed_before_resampling_equals_resampling_it_whole(tmp_path, rate_in, rate_out):
    rng = np.random.default_rng(rate_in)
    sf.write(str(tmp_path / "long.wav"), rng.uniform(-0.5, 0.5, 3 * rate_in).astype(np.float32), rate_in,
             subtype="FLOAT")
    t = AudioTransform(sample_rate=rate_out, seconds=0.5, n_fft=64, hop=32)
    whole, rate = read_wav(tmp_path / "long.wav")
    assert np.array_equal(t.waveform(tmp_path / "long.wav"), tile_trim(resample(whole, rate, rate_out), t.num_samples))


def test_only_the_frames_the_clip_length_needs_are_decoded_and_resampled(tmp_path, monkeypatch):
    import g2d.data.audio as audio

    rate_in, minutes = 44100, 5
    sf.write(str(tmp_path / "five-minutes.wav"), np.zeros(minutes * 60 * rate_in, np.int16), rate_in,
             subtype="PCM_16")
    seen = []
    real = audio.resample
    monkeypatch.setattr(audio, "resample", lambda x, *a, **k: seen.append(len(x)) or real(x, *a, **k))
    t = AudioTransform(sample_rate=16000, seconds=1.0, n_fft=64, hop=32)
    assert t.waveform(tmp_path / "five-minutes.wav").shape == (16000,)
    assert seen == [audio.resample_input_frames(16000, rate_in, 16000)]
    assert seen[0] < 1.1 * rate_in  # one second and a kernel's width, not 5 minutes


def gradient_png(path, bits: int):
    ramp = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    pixels = (ramp * 65535).astype(np.uint16) if bits == 16 else (ramp * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("channels", [1, 3])
def test_a_16_bit_image_keeps_its_full_range(tmp_path, channels):
    t = ImageTransform(channels=channels, size=64, mean=(0.0,) * channels, std=(1.0,) * channels)
    deep, shallow = t(gradient_png(tmp_path / "g16.png", 16)), t(gradient_png(tmp_path / "g8.png", 8))
    assert deep.shape == shallow.shape == (channels, 64, 64)
    assert deep.min() == 0.0 and deep.max() == pytest.approx(1.0, abs=1e-6)  # not saturated
    assert len(np.unique(deep)) > 1000  # more grey levels than 8 bits hold, not a few
    assert np.abs(deep - shallow).max() < 1.5 / 255  # the same picture as its 8-bit version

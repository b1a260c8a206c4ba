"""Frame sampling rules on real clips (constant and variable frame rate), audio resampling, and
the named error when PyAV is missing."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from g2d.prepare.media import (BadClip, FrameRule, MissingMediaLibrary, decode_audio, require_av, sample_frames,
                               video_duration)
from tests.prepare.rawmedia import write_clip


def times(path, rule) -> list[float]:
    return [round(t, 3) for _, t, _ in sample_frames(path, "c", rule)]


def test_fps_rule_takes_the_first_frame_at_or_after_each_second(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", 0, seconds=3.0, fps=10)
    assert times(clip, FrameRule("fps", 1.0)) == [0.0, 1.0, 2.0]
    assert times(clip, FrameRule("fps", 2.0, max_seconds=1.2)) == [0.0, 0.5, 1.0]


def test_variable_frame_rate_clip_is_sampled_by_time_not_by_frame_count(tmp_path):
    clip = write_clip(tmp_path / "v.mp4", 1, seconds=2.2, vfr=True)  # frames at 0, .17, .2, .37, .4, ...
    kept = times(clip, FrameRule("fps", 1.0))
    assert kept == [0.0, 1.0, 2.0]
    kept = times(clip, FrameRule("fps", 4.0))  # instants .25 and .75 fall in 170 ms gaps
    assert kept[:4] == [0.0, 0.37, 0.57, 0.77]


def test_even_rule_spreads_n_frames_over_the_clip_deterministically(tmp_path):
    clip = write_clip(tmp_path / "e.mp4", 2, seconds=2.0, fps=10)
    assert video_duration(clip, "e") == pytest.approx(2.0, abs=0.01)
    first = [np.asarray(img) for _, _, img in sample_frames(clip, "e", FrameRule("even", num_frames=3))]
    again = [np.asarray(img) for _, _, img in sample_frames(clip, "e", FrameRule("even", num_frames=3))]
    assert times(clip, FrameRule("even", num_frames=3)) == [0.4, 1.0, 1.7]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_audio_is_resampled_mixed_down_and_cut(tmp_path):
    clip = write_clip(tmp_path / "s.mp4", 0, seconds=2.0, audio_rate=48000, channels=2)
    mono = decode_audio(clip, "s", 16000, True, None)
    assert mono.dtype == np.int16 and mono.shape[1] == 1 and abs(len(mono) - 32000) < 1100
    stereo = decode_audio(clip, "s", 8000, False, 1.0)
    assert stereo.shape == (8000, 2)


def test_a_clip_without_audio_track_is_a_bad_clip(tmp_path):
    clip = write_clip(tmp_path / "n.mp4", 0, audio_rate=None)
    with pytest.raises(BadClip, match="has no audio track"):
        decode_audio(clip, "n", 16000, True, None)


def test_missing_pyav_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingMediaLibrary, match=r"pip install 'g2d\[prepare\]'"):
        require_av()

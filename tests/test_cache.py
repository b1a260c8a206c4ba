"""Teacher-output cache: stored once, read by index, refuses to be used against anything else."""
import numpy as np
import pytest
import torch

from g2d import api
from g2d.cache import TeacherCache, build_cache, open_cache
from g2d.data.base import Batch, TensorDataset
from g2d.validation import CacheMismatchError

from conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = tiny_config()
    splits = api.load_data(config)
    teachers = api.train_teachers(config, run, splits, progress=False)
    return run, config, splits, teachers


def test_cache_holds_teacher_outputs_by_sample_index(trained, tmp_path):
    run, config, splits, teachers = trained
    path = build_cache(teachers, splits.train, tmp_path / "cache", torch.device("cpu"), batch_size=50)
    cache = open_cache(path, teachers, splits.train, torch.device("cpu"))
    idx = [5, 0, 17]
    batch = splits.train.get_batch(idx)
    got = cache.lookup(batch)
    for m, teacher in teachers.items():
        with torch.no_grad():
            out = teacher.model({m: batch.inputs[m]})
        assert torch.allclose(got.logits[m], out.logits, atol=1e-6)
        assert torch.allclose(got.features[m], out.features[m], atol=1e-6)
    assert isinstance(cache.logits["strong"], np.memmap)  # read lazily, not loaded whole


def test_cache_refuses_changed_teacher_weights(trained, tmp_path):
    run, config, splits, teachers = trained
    path = build_cache(teachers, splits.train, tmp_path / "cache", torch.device("cpu"))
    changed = dict(teachers)
    weak = teachers["weak"]
    changed["weak"] = type(weak)(weak.modality, weak.model, {**weak.card, "weights_sha256": "0" * 64})
    with pytest.raises(CacheMismatchError, match=r"teacher 'weak': weights changed"):
        open_cache(path, changed, splits.train, torch.device("cpu"))


def test_cache_refuses_other_data_and_other_transform(trained, tmp_path):
    run, config, splits, teachers = trained
    path = build_cache(teachers, splits.train, tmp_path / "cache", torch.device("cpu"))
    train = splits.train
    other = TensorDataset({m: x.clone() for m, x in train.inputs.items()}, train.target.clone(), train.info,
                          transform_description=train.transform_description)
    other.inputs["weak"][3, 0] += 1.0
    with pytest.raises(CacheMismatchError, match="training data changed"):
        open_cache(path, teachers, other, torch.device("cpu"))
    resized = TensorDataset(train.inputs, train.target, train.info, transform_description="resize 64")
    with pytest.raises(CacheMismatchError, match="input transform changed"):
        open_cache(path, teachers, resized, torch.device("cpu"))


def test_missing_cache_is_a_clear_error(trained, tmp_path):
    run, config, splits, teachers = trained
    from g2d.validation import G2DError
    with pytest.raises(G2DError, match="no teacher-output cache.*run `g2d cache` first"):
        open_cache(tmp_path / "none", teachers, splits.train, torch.device("cpu"))


def test_random_train_transform_runs_teachers_online(trained, tmp_path):
    run, config, splits, teachers = trained
    splits.train.random_transform = True
    try:
        notes = []
        source = api.teacher_source(config, splits, teachers, tmp_path / "cache", torch.device("cpu"), notes)
        assert type(source).__name__ == "OnlineTeachers" and "online" in notes[0]
        assert not (tmp_path / "cache").exists()
    finally:
        splits.train.random_transform = False


def test_nonfinite_teacher_outputs_are_never_cached_naming_the_first_sample():
    from g2d.cache import check_finite_outputs
    from g2d.validation import G2DError

    arr = np.zeros((6, 3), dtype=np.float32)
    arr[4, 1] = np.inf
    arr[5, 0] = np.nan
    with pytest.raises(G2DError, match=r"teacher 'audio' gives non-finite logits \(NaN or Inf\) for 2 training "
                                       r"sample\(s\), first sample 4; the cache was not written"):
        check_finite_outputs("audio.logits", arr)
    check_finite_outputs("audio.logits", np.zeros((6, 3), dtype=np.float32))  # finite: accepted


@pytest.mark.parametrize("widths", [(5, 5), (5, 3)])
def test_a_resident_cache_looks_up_what_the_memory_mapped_one_reads(tmp_path, widths):
    rng = np.random.default_rng(0)
    arrays = {}
    for m, d in zip(("a", "b"), widths):
        for kind, cols in (("logits", 4), ("features", d)):
            np.save(tmp_path / f"{m}.{kind}.npy", rng.standard_normal((30, cols)).astype(np.float32))
            arrays[m, kind] = np.load(tmp_path / f"{m}.{kind}.npy", mmap_mode="r")
    logits = {m: arrays[m, "logits"] for m in ("a", "b")}
    features = {m: arrays[m, "features"] for m in ("a", "b")}
    resident = TeacherCache(tmp_path, logits, features, torch.device("cpu"))
    mapped = TeacherCache(tmp_path, logits, features, torch.device("cpu"), resident_bytes=0)
    assert resident.resident and not mapped.resident
    batch = Batch({}, torch.zeros(4, dtype=torch.long), torch.tensor([7, 0, 29, 7]))
    got, ref = resident.lookup(batch), mapped.lookup(batch)
    for m in ("a", "b"):
        assert torch.equal(got.logits[m], torch.from_numpy(np.asarray(logits[m])[[7, 0, 29, 7]]))
        assert torch.equal(got.logits[m], ref.logits[m]) and torch.equal(got.features[m], ref.features[m])
    assert torch.equal(got.stacked_logits(), ref.stacked_logits())
    assert (got.feature_stack is not None) == (widths[0] == widths[1])
    torch.testing.assert_close(got.log_probs(1.0), torch.log_softmax(ref.stacked_logits(), -1), rtol=0, atol=1e-6)


def test_the_resident_cache_hands_over_each_samples_teacher_confidence(trained, tmp_path):
    """ρ per sample, made once from targets.npy when the cache is opened, is bit-for-bit what a step
    computes from the batch's targets; a cache built before targets.npy existed still works."""
    import json

    from g2d.scoring import teacher_confidence

    run, config, splits, teachers = trained
    path = build_cache(teachers, splits.train, tmp_path / "cache", torch.device("cpu"), batch_size=50)
    stored = np.load(path / "targets.npy")
    assert np.array_equal(stored, splits.train.targets().float().numpy())
    cache = open_cache(path, teachers, splits.train, torch.device("cpu"))
    assert cache.resident
    batch = splits.train.get_batch([5, 0, 17, 5])
    got = cache.lookup(batch)
    assert got.confidence is not None and got.confidence.shape == (len(teachers), 4)
    modalities = tuple(teachers)
    handed = teacher_confidence(got, modalities, batch.target, "classification")
    got.confidence = None
    computed = teacher_confidence(got, modalities, batch.target, "classification")
    assert torch.equal(handed, computed)
    manifest = json.loads((path / "manifest.json").read_text())  # an older cache: no targets.npy
    del manifest["arrays"]["targets.npy"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "targets.npy").unlink()
    older = open_cache(path, teachers, splits.train, torch.device("cpu")).lookup(batch)
    assert older.confidence is None
    assert torch.equal(teacher_confidence(older, modalities, batch.target, "classification"), computed)

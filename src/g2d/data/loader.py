"""The one way batches leave a data set: a DataLoader of whole :class:`Batch` objects."""
from __future__ import annotations

from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, SequentialSampler

from g2d.data.base import MultimodalDataset


def make_loader(dataset: MultimodalDataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0, pin_memory: bool = False, persistent_workers: bool = False,
                rank: int = 0, world_size: int = 1) -> DataLoader:
    """Batches of whole :class:`Batch` objects. A last batch of one sample is dropped when
    shuffling (BatchNorm cannot train on it); evaluation keeps every sample.

    Shuffling is a :class:`DistributedSampler` (one rank of one when not distributed: the same
    permutation as ``randperm(n)`` seeded with ``seed``); with ``world_size`` > 1 this rank gets
    every ``world_size``-th sample of it, so the ranks' local batches together are the global
    batch a single process would draw. :func:`set_loader_seed` reseeds it for the next epoch, so
    one loader (and its persistent workers) serves the whole run."""
    if shuffle:
        order = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
        order.set_epoch(seed)  # permutation seeded with 0 + seed
        local = order.num_samples
    else:
        order, local = SequentialSampler(dataset), len(dataset)
    drop_last = shuffle and local % batch_size == 1 and local > 1
    return DataLoader(dataset, sampler=BatchSampler(order, batch_size, drop_last), batch_size=None,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=persistent_workers and num_workers > 0)


def set_loader_seed(loader: DataLoader, seed: int) -> None:
    """Shuffle the next pass over ``loader`` with ``seed`` (a loader made with ``shuffle=True``)."""
    loader.sampler.sampler.set_epoch(seed)

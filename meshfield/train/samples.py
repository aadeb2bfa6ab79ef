"""Training samples: windows of ``history`` input frames and the frames that follow them.

A trajectory of ``T`` frames gives ``T - history - horizon + 1`` windows; window ``t`` holds
frames ``t .. t + history + horizon - 1``, the first ``history`` of them the model's input and
the rest its targets (with ``frame_step`` :math:`s`, frames ``t, t + s, ..., t + (history +
horizon - 1) s``: a model step of :math:`s` snapshot intervals, from every start ``t``). With
``warmup``, a window also carries the frames before it, on which the trainer advances the
model's temporal state (teacher forcing, no gradients) so that the window starts from the
state a rollout from the trajectory's start would have reached. :class:`TrajectoryWindows`
lists the windows of a dataset without reading it (the frame counts come from the file
headers) and cuts each window from its trajectory on access; :func:`collate_windows` makes a
PyG :class:`~torch_geometric.data.Batch` of several (``fields`` concatenated along nodes,
``cond`` stacked per graph).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler
from torch_geometric.data import Batch

from meshfield.data.graph import MeshGraph

__all__ = ["TrajectoryStreams", "TrajectoryWindows", "Window", "collate_windows", "num_frames"]

#: the keys of a trajectory a window keeps (the rest, e.g. cells or times, is not trained on)
_MESH_KEYS = ("pos", "edge_index", "boundary", "cond")


class Window(MeshGraph):
    r"""One training sample: a mesh with a window of frames.

    Attributes
    ----------
    fields : torch.Tensor
        ``[history + horizon, N, C]`` physical frames: inputs first, then targets.
    noise : torch.Tensor
        ``[history, N, C]`` standard-normal noise for the inputs (only when the windows were
        made with noise); scaled by the trainer.
    initial : torch.Tensor
        ``[N, C]`` the first frame of the trajectory (target of the initial head).
    warmup : torch.Tensor
        ``[W + history - 1, N, C]`` the frames before the window's target frames that warm the
        temporal state up over ``W`` steps (only when the windows were made with ``warmup``);
        the first ``W - warmup_steps`` steps are padding (repeats of the first real frame).
    warmup_steps : int
        How many of the ``W`` warm-up steps are real: ``min(start, W)``.
    cond : torch.Tensor
        ``[K]`` physical conditions.
    run, start : int
        The trajectory and the first frame of the window.

    Batching concatenates ``fields``, ``noise`` and ``warmup`` along nodes (dim 1), like
    ``fields`` of a :class:`~meshfield.data.MeshGraph`.
    """

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in ("noise", "warmup"):
            return 1
        return super().__cat_dim__(key, value, *args, **kwargs)


def num_frames(source: Any) -> int:
    """Frames ``T`` of a trajectory: a graph, or a graph file (read from its header only)."""
    if isinstance(source, str | Path):
        from safetensors import safe_open

        with safe_open(str(source), framework="pt") as handle:
            return int(handle.get_slice("fields").get_shape()[0])
    return int(source.fields.shape[0])


class TrajectoryWindows(Dataset):
    r"""The training windows of a set of trajectories, cut lazily.

    Parameters
    ----------
    trajectories : MeshDataset or sequence of MeshGraph
        Graphs with ``fields [T, N, C]``, ``pos``, ``edge_index`` and (optionally)
        ``boundary`` and ``cond``. A :class:`~meshfield.data.MeshDataset` is read run by run
        when a window needs it.
    history : int
        Input frames per window.
    horizon : int, default: 1
        Target frames per window (1 for a one-step loss, more for pushforward).
    stride : int, default: 1
        Frames between the starts of consecutive windows.
    frame_step : int, default: 1
        Snapshots between the frames of a window: window ``t`` holds frames ``t, t + s,
        t + 2 s, ...`` (a model step of ``s`` snapshot intervals); every start ``t`` is a
        window, so all phases of a trajectory are trained on.
    noise : bool, default: False
        Attach standard-normal noise ``[history, N, C]`` to every window; it depends only on
        ``seed``, the epoch (:meth:`set_epoch`) and the window's index, so it is the same in
        every process and worker and after a resume.
    seed : int, default: 0
        Seed of the noise.
    cache_runs : int, default: 16
        Trajectories kept in memory (least recently used first out).
    warmup : int or None, default: 0
        Steps of temporal-state warm-up before each window: every window carries the frames
        of the ``min(start, W)`` steps before it (``window.warmup``). ``None``: from the
        trajectory's start (``W`` is the latest window start); 0: none.

    Shapes
    ------
    - **trajectories[r].fields**: ``[T_r, N_r, C]``
    - **window.fields**: ``[history + horizon, N_r, C]``; **window.noise**: ``[history, N_r, C]``

    Example
    -------
    >>> import torch
    >>> from meshfield.data import mesh_graph
    >>> g = mesh_graph([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 2]]},
    ...                fields=torch.arange(5.0).reshape(5, 1, 1).expand(5, 3, 1),
    ...                field_names=["T"])
    >>> windows = TrajectoryWindows([g], history=2)
    >>> len(windows), windows[1].fields[:, 0, 0].tolist()
    (3, [1.0, 2.0, 3.0])
    """

    def __init__(
        self,
        trajectories: Any,
        history: int,
        horizon: int = 1,
        *,
        stride: int = 1,
        frame_step: int = 1,
        noise: bool = False,
        seed: int = 0,
        cache_runs: int = 16,
        warmup: int | None = 0,
    ) -> None:
        if warmup is not None and (isinstance(warmup, bool) or warmup < 0):
            msg = f"Expected warmup >= 0 or None (got {warmup!r})"
            raise ValueError(msg)
        if history < 1 or horizon < 1 or stride < 1 or cache_runs < 0:
            msg = (
                "Expected history >= 1, horizon >= 1, stride >= 1 and cache_runs >= 0 "
                f"(got {history}, {horizon}, {stride}, {cache_runs})"
            )
            raise ValueError(msg)
        if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
            msg = f"Expected frame_step >= 1 (got {frame_step!r})"
            raise ValueError(msg)
        self.trajectories = trajectories
        self.frame_step = frame_step
        self.history = history
        self.horizon = horizon
        self.stride = stride
        self.noise = noise
        self.seed = seed
        self.epoch = 0
        self.cache_runs = cache_runs
        self._cache: OrderedDict[int, MeshGraph] = OrderedDict()
        files = getattr(trajectories, "files", None)
        length = history + horizon
        span = (length - 1) * frame_step + 1  # snapshots from a window's first frame to its last
        self.frames: list[int] = []
        self.index: list[tuple[int, int]] = []
        for run in range(len(trajectories)):
            frames = num_frames(files[run] if files is not None else trajectories[run])
            self.frames.append(frames)
            self.index.extend((run, start) for start in range(0, frames - span + 1, stride))
        if not self.index:
            spacing = f" {frame_step} snapshots apart ({span} frames)" if frame_step > 1 else ""
            msg = (
                f"No training windows: every trajectory has fewer than history + horizon = "
                f"{length} frames{spacing} (frames per trajectory: {sorted(set(self.frames))})"
            )
            raise ValueError(msg)
        latest = max(start for _, start in self.index) // frame_step
        self.warmup = latest if warmup is None else min(int(warmup), latest)

    def set_epoch(self, epoch: int) -> None:
        """Draw the noise of epoch ``epoch`` (call before each epoch)."""
        self.epoch = int(epoch)

    def trajectory(self, run: int) -> MeshGraph:
        """Trajectory ``run``, from the cache or read now."""
        graph = self._cache.get(run)
        if graph is not None:
            self._cache.move_to_end(run)
            return graph
        graph = self.trajectories[run]
        if self.cache_runs:
            self._cache[run] = graph
            while len(self._cache) > self.cache_runs:
                self._cache.popitem(last=False)
        return graph

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: int) -> Window:
        if not -len(self) <= idx < len(self):
            msg = f"window index {idx} out of range for {len(self)} windows"
            raise IndexError(msg)
        idx = idx % len(self)
        run, start = self.index[idx]
        graph = self.trajectory(run)
        window = Window()
        for key in _MESH_KEYS:
            value = graph.get(key)
            if value is not None:
                window[key] = value
        k = self.frame_step
        fields = graph.fields[start : start + (self.history + self.horizon - 1) * k + 1 : k]
        window.fields = fields.to(torch.float32)
        window.initial = graph.fields[0].to(torch.float32)
        window.run = run
        window.start = start
        window.num_nodes = graph.pos.size(0)
        if self.warmup > 0:
            steps = min(start // k, self.warmup)
            begin = start - steps * k
            frames_before = graph.fields[begin : start + (self.history - 1) * k : k]
            pad = self.warmup - steps
            if pad:
                first = graph.fields[begin : begin + 1]
                frames_before = torch.cat([first.expand(pad, -1, -1), frames_before])
            window.warmup = frames_before.to(torch.float32)
            window.warmup_steps = steps
        if self.noise:
            window.noise = self._noise(idx, (self.history, *fields.shape[1:]))
        return window

    def _noise(self, idx: int, shape: Sequence[int]) -> Tensor:
        key = ((self.seed * 1_000_003 + self.epoch) * 1_000_003 + idx) % (1 << 63)
        generator = torch.Generator().manual_seed(key)
        return torch.randn(tuple(shape), generator=generator)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(runs={len(self.frames)}, windows={len(self)}, "
            f"history={self.history}, horizon={self.horizon}, frame_step={self.frame_step})"
        )


class TrajectoryStreams(Sampler[int]):
    r"""Window indices for ``streams`` walks through the trajectories, each in time order.

    For training with a carried temporal state (``TrainConfig.state_carry``): batch position
    ``s`` is stream ``s``, and its window in batch ``b + 1`` is the window ``stride`` model
    steps (``stride * windows.frame_step`` frames) after its window in batch ``b``, of the same
    trajectory, so the state a window's unroll
    ends with is the state the stream's next window starts from. A stream walks one
    trajectory from a random offset below ``stride`` to its last window, then takes the next
    trajectory of a shuffled list of all of them (shuffled again when used up). The order
    depends only on ``seed`` and the epoch (:meth:`set_epoch`).

    Parameters
    ----------
    windows : TrajectoryWindows
        The windows (made with ``stride=1``).
    streams : int
        Walks per process: the batch size.
    stride : int
        Frames between a stream's consecutive windows: the unrolled horizon
        (:meth:`set_stride` follows a curriculum).
    batches : int
        Batches per epoch.
    seed : int, default: 0
        Seed of the order.
    rank, world_size : int, default: 0, 1
        Process ``rank`` of ``world_size`` walks streams ``rank * streams`` to
        ``(rank + 1) * streams - 1`` of the ``world_size * streams`` of the epoch.
    """

    def __init__(
        self,
        windows: TrajectoryWindows,
        streams: int,
        stride: int,
        batches: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if windows.stride != 1:
            msg = f"TrajectoryStreams needs windows made with stride 1 (got {windows.stride})"
            raise ValueError(msg)
        if streams < 1 or stride < 1 or batches < 1 or not 0 <= rank < world_size:
            msg = (
                "Expected streams >= 1, stride >= 1, batches >= 1 and 0 <= rank < world_size "
                f"(got {streams}, {stride}, {batches}, {rank}, {world_size})"
            )
            raise ValueError(msg)
        self.windows = windows
        self.streams = streams
        self.stride = stride
        self.batches = batches
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._position = {key: i for i, key in enumerate(windows.index)}
        self._starts: dict[int, list[int]] = {}
        for run, start in windows.index:
            self._starts.setdefault(run, []).append(start)

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of epoch ``epoch``."""
        self.epoch = int(epoch)

    def set_stride(self, stride: int) -> None:
        """Frames between a stream's windows from now on (the epoch's unrolled horizon)."""
        if stride < 1:
            msg = f"Expected stride >= 1 (got {stride})"
            raise ValueError(msg)
        self.stride = int(stride)

    def __len__(self) -> int:
        return self.batches * self.streams

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        runs = sorted(self._starts)
        queue: list[int] = []

        def walk() -> list[int]:
            if not queue:
                queue.extend(runs[i] for i in torch.randperm(len(runs), generator=generator))
            run = queue.pop(0)
            step = self.stride * self.windows.frame_step  # snapshots between a walk's windows
            offset = int(torch.randint(step, (1,), generator=generator))
            last = self._starts[run][-1]
            start = min(offset, last)
            return [self._position[(run, t)] for t in range(start, last + 1, step)]

        total = self.streams * self.world_size
        walks: list[list[int]] = [[] for _ in range(total)]
        mine = range(self.rank * self.streams, (self.rank + 1) * self.streams)
        for _ in range(self.batches):
            for s in range(total):  # every process draws every stream: the same order
                if not walks[s]:
                    walks[s] = walk()
            for s in range(total):
                index = walks[s].pop(0)
                if s in mine:
                    yield index


def collate_windows(windows: Sequence[Window]) -> Batch:
    """Batch windows into one PyG :class:`~torch_geometric.data.Batch` (a disjoint mesh).

    ``fields`` / ``noise`` are concatenated along nodes (``[h + k, sum N, C]``), ``initial``
    along nodes, ``cond`` stacked to ``[B, K]``, ``edge_index`` shifted, ``batch`` gives the
    window of each node. All windows need the same frame count and channels.
    """
    if not windows:
        msg = "collate_windows: expected at least one window (got none)"
        raise ValueError(msg)
    return Batch.from_data_list(list(windows))

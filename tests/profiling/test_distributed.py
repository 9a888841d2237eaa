"""Distributed profiles on loopback gloo (issue 13): 2 and 3 spawned ranks, one thread each.

The distributed profile equals the single-process profile of the same batches: counts and top/bottom-n
exactly, sums to rtol 1e-12 (float64 sums added in another order).
"""

import json
import socket
import sys

import dist_helpers
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from profile_checks import assert_same

from ddp_widgets import Profile, Profiler
from ddp_widgets.core.errors import DistributedProfileError

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(fn, world, tmp_path):
    mp.spawn(fn, args=(world, _port(), str(tmp_path)), nprocs=world, join=True)


@pytest.fixture(scope="module")
def reference():
    x, y, names = dist_helpers.make_data()
    prof = Profiler(dist_helpers.make_model())
    return prof, x, y, names


def _check_equal(world, tmp_path, reference):
    prof, x, y, names = reference
    single = prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False)
    merged = Profile.load(tmp_path / f"equal_w{world}_r0")
    assert_same(merged, single, rtol=1e-12)
    assert merged.index_ranges.tolist() == [[0, 45]] and merged.meta["world_size"] == world
    for r in range(1, world):  # all_ranks=True: every rank holds the same merged profile
        assert_same(Profile.load(tmp_path / f"equal_w{world}_r{r}"), merged, rtol=0)


@pytest.mark.slow  # two worker processes (~3 s)
def test_two_ranks_equal_a_single_process(tmp_path, reference):
    _spawn(dist_helpers.equality_worker, 2, tmp_path)
    _check_equal(2, tmp_path, reference)


@pytest.mark.slow  # three worker processes (~4 s)
def test_three_ranks_equal_uneven_and_empty_shards_iterables_and_errors(tmp_path, reference):
    """One spawn of 3 ranks runs every scenario in turn (spawning dominates the time)."""
    prof, x, y, names = reference
    _spawn(dist_helpers.scenarios_worker, 3, tmp_path)
    _check_equal(3, tmp_path, reference)
    results = [json.loads((tmp_path / f"scenarios_r{r}.json").read_text()) for r in range(3)]
    assert_same(
        Profile.load(tmp_path / "uneven"),
        prof.profile(x[:12], y[:12], batch_size=8, progress=False),
        rtol=1e-12,
    )
    assert [r["empty_rank_got_none"] for r in results] == [False, True, True]
    whole = prof.profile(x, y, batch_size=5, class_names=names, progress=False)
    assert_same(Profile.load(tmp_path / "iterable"), whole, rtol=1e-12)
    for r in results:
        assert (
            r["no_indices"]["type"] == "DataError" and "global dataset indices" in r["no_indices"]["message"]
        )
        assert r["classes"]["type"] == "DistributedProfileError"
        assert "class names (rank(s) 1 differ from rank 0)" in r["classes"]["message"]
        assert r["still_in_step"] == 8  # after every error the ranks still run collectives together
    assert results[1]["setup"] == {"type": "ValueError", "message": "no projection on rank 1"}
    for r in (results[0], results[2]):
        assert (
            r["setup"]["type"] == "DistributedProfileError"
            and "no projection on rank 1" in r["setup"]["message"]
        )
    assert results[2]["error"] == {"type": "RuntimeError", "message": "rank 2 cannot go on"}
    for r in results[:2]:
        assert r["error"]["type"] == "DistributedProfileError"
        assert "rank 2 raised RuntimeError: rank 2 cannot go on" in r["error"]["message"]


def test_auto_without_a_process_group_says_how_to_launch(reference):
    prof, x, y, _ = reference
    with pytest.raises(DistributedProfileError, match="torchrun"):
        prof.profile(x, y, shard="auto", progress=False)


def test_notebook_launcher_returns_a_profile(reference):
    from ddp_widgets import distributed

    prof, x, y, names = reference
    p = distributed.profile(
        dist_helpers.make_model, dist_helpers.make_dataset, nproc=2, batch_size=4, class_names=names, top_n=5
    )
    assert isinstance(p, Profile)
    assert_same(p, prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False), rtol=1e-12)


def test_launcher_refuses_factories_from_the_notebook():
    from ddp_widgets import distributed

    def local_model():
        return dist_helpers.make_model()

    with pytest.raises(DistributedProfileError, match="put it in a module"):
        distributed.profile(local_model, dist_helpers.make_dataset, nproc=2)
    main_fn = type(local_model)(local_model.__code__, {}, "make")
    main_fn.__module__ = "__main__"
    with pytest.raises(DistributedProfileError, match="defined in the notebook"):
        distributed.profile(dist_helpers.make_model, main_fn, nproc=2)


def test_cli_writes_files_that_load_and_merge(tmp_path, reference, capsys):
    from ddp_widgets.profile import main

    prof, x, y, names = reference
    for r in range(2):  # a job array of two tasks
        assert (
            main(
                [
                    "--model",
                    "dist_helpers:make_model",
                    "--data",
                    "dist_helpers:make_data",
                    "--batch-size",
                    "4",
                    "--top-n",
                    "5",
                    "--shard",
                    f"{r}/2",
                    "--out",
                    str(tmp_path / f"part{r}"),
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "merge",
                "--out",
                str(tmp_path / "all"),
                str(tmp_path / "part0.npz"),
                str(tmp_path / "part1.npz"),
            ]
        )
        == 0
    )
    merged = Profile.load(tmp_path / "all")
    assert_same(
        merged, prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False), rtol=1e-12
    )
    assert (
        main(
            ["--model", "dist_helpers:nope", "--data", "dist_helpers:make_data", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert "has no attribute 'nope'" in capsys.readouterr().err


@pytest.mark.slow  # ~10 s: a torchrun start; the CLI itself is tested in-process above
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun on loopback")
def test_cli_under_torchrun(tmp_path, reference):
    import os
    import subprocess

    prof, x, y, names = reference
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.dirname(dist_helpers.__file__), *sys.path]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_port()),
        "-m",
        "ddp_widgets.profile",
        "--model",
        "dist_helpers:make_model",
        "--data",
        "dist_helpers:make_data",
        "--batch-size",
        "4",
        "--top-n",
        "5",
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same(
        Profile.load(tmp_path / "run"),
        prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False),
        rtol=1e-12,
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_accumulators_equal_the_cpu(reference):
    """The CUDA path (class sums without atomics) gives the CPU profile to float32 rounding. Not run here (no
    GPU)."""
    import copy

    prof, x, y, names = reference
    cpu = prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False)
    gpu = Profiler(copy.deepcopy(prof.model).to("cuda")).profile(
        x, y, batch_size=4, class_names=names, top_n=5, progress=False
    )
    assert_same(gpu, cpu, rtol=1e-5, exact_ranks=False)
    again = Profiler(copy.deepcopy(prof.model).to("cuda")).profile(
        x, y, batch_size=4, class_names=names, top_n=5, progress=False
    )
    assert_same(again, gpu, rtol=0)  # deterministic on the device


@pytest.mark.skipif(
    not torch.cuda.is_available() or not dist.is_nccl_available(), reason="needs CUDA and NCCL"
)
def test_nccl_one_rank_equals_the_cpu(tmp_path, reference):
    """shard='auto' on NCCL (buffers on the GPU) gives the CPU profile to float32 rounding. Not run here (no
    GPU)."""
    prof, x, y, names = reference
    _spawn(dist_helpers.nccl_worker, 1, tmp_path)
    cpu = prof.profile(x, y, batch_size=4, class_names=names, top_n=5, progress=False)
    assert_same(Profile.load(tmp_path / "nccl"), cpu, rtol=1e-5, exact_ranks=False)

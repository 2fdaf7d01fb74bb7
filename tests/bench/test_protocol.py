"""The evaluation protocol: the whole-dataset MOS maximum, Eq. 7 targets and clean statistics, and
the runner using them."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from advqa.bench import protocol
from advqa.bench.config import DatasetSpec, experiment_from_dict
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore
from advqa.metrics.robustness import boundary_targets


@pytest.fixture
def split_root(with_split):
    """The folder dataset with a split column; the best video (v0, MOS 4.5) is in the train split."""
    return with_split("ds", train=("v0.mkv", "v3.mkv"))


def test_mos_max_is_the_largest_mos_of_the_whole_dataset(split_root):
    spec = DatasetSpec("folder", str(split_root), "test")
    aset = protocol.attacked_set(spec, seed=0)
    assert [s.name for s in aset] == ["v1", "v2", "v4"]
    assert max(s.mos for s in aset) == pytest.approx(3.7)
    assert aset.mos_max == pytest.approx(4.5)  # v0's, from the train split: every split counts
    assert protocol.mos_max(DatasetSpec("folder", str(split_root))) == pytest.approx(4.5)
    sub = protocol.attacked_set(DatasetSpec("folder", str(split_root), "test", videos=2), seed=3)
    assert len(sub) == 2 and sub.mos_max == pytest.approx(4.5)
    assert [s.name for s in sub] == [s.name for s in aset.dataset.subset(2, 3)]


def test_targets_and_clean_statistics():
    mos, scores = [1.0, 2.0, 3.0, 4.0], [0.2, 0.3, 0.5, 0.6]
    np.testing.assert_allclose(protocol.targets(mos, scores, 5.0), boundary_targets(mos, scores, mos_max=5.0))
    # hand-computed: q = mos / 5, b = [1, 1, 0, 0], target = (b - mean q) / std q * std s + mean s
    q = np.array(mos) / 5
    s = np.array(scores)
    expected = (np.array([1, 1, 0, 0]) - q.mean()) / q.std() * s.std() + s.mean()
    np.testing.assert_allclose(protocol.targets(mos, scores, 5.0), expected, rtol=1e-12)
    assert protocol.targets([3.0], [0.4], 5.0) == [None]  # no set statistics: each attack falls back
    assert protocol.targets([3.0, 3.0], [0.4, 0.5], 5.0) == [None, None]
    st = protocol.clean_statistics(mos, scores)
    assert st["srcc"] == pytest.approx(stats.spearmanr(scores, mos)[0])
    assert st["plcc"] == pytest.approx(stats.pearsonr(scores, mos)[0])
    assert st["mean"] == pytest.approx(0.4) and st["std"] == pytest.approx(np.std(scores))


def test_runner_targets_follow_the_protocol(tmp_path, split_root, tiny_registered):
    exp = experiment_from_dict({"models": [tiny_registered],
                                "datasets": [{"name": "folder", "root": str(split_root), "split": "test"}],
                                "attacks": [{"name": "fgsm", "eps": "2/255"}]})
    rep = run_experiment(exp, tmp_path / "out")
    with ResultStore(rep.database) as s:
        rows = s.rows()
        clean = {c["video"]: c["score"] for c in s.clean_rows()}
    mos = [r["mos"] for r in rows]
    expected = boundary_targets(mos, [clean[r["video"]] for r in rows], mos_max=4.5)
    np.testing.assert_allclose([r["target"] for r in rows], expected, rtol=1e-12)
    assert all(r["clean_score"] == pytest.approx(clean[r["video"]], abs=1e-6) for r in rows)

"""The shipped SecureVQA-principles experiment (resources/defenses.yaml) parses and plans the expected rows."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from advqa.bench import protocol
from advqa.bench.config import load_experiment
from advqa.bench.jobs import clean_models, defense_key, plan
from advqa.data.base import Sample, VideoDataset

CONFIG = Path(str(resources.files("advqa").joinpath("resources/defenses.yaml")))


def test_defenses_yaml_parses_and_plans_every_defence_with_three_attackers(tmp_path):
    exp = load_experiment(CONFIG)
    assert [defense_key(m.defense) for m in exp.models] == ["", "guardian", "grid", "grid+guardian", "secure"]
    assert {m.name for m in exp.models} == {"litevsfa"}
    (ds,) = exp.datasets
    assert (ds.name, ds.split, ds.videos, ds.max_frames) == ("demo", "test", 20, 8)
    assert exp.eot == 4 and exp.attackers == ("naive", "non-adaptive", "adaptive")
    assert [(a.name, a.norm, round(a.eps * 255, 6)) for a in exp.attacks] == [("patch", "linf", 5.0),
                                                                             ("whitebox", "l2", 1.0)]
    # the clean phase scores each model once (the undefended litevsfa once, not once per defence)
    assert len(clean_models(exp)) == 5

    # plan on a stand-in for the 20 drawn test videos (planning reads no file)
    samples = [Sample(f"v{i}", Path(f"/nonexistent/v{i}.mkv"), 1.0 + 0.2 * i) for i in range(ds.videos)]
    aset = protocol.AttackedSet(spec=ds, key=protocol.dataset_key(ds),
                                dataset=VideoDataset("demo", samples, (1.0, 5.0)), mos_max=5.0)
    clean = {(m.name, defense_key(m.defense), aset.key, s.name): 3.0 for m in clean_models(exp) for s in samples}
    jobs = plan(exp, {aset.key: aset}, clean, tmp_path, randomized=lambda spec: bool(spec.defense))
    modes: dict[tuple[str, str], set] = {}
    for j in jobs:
        modes.setdefault((j.key[1], j.attack.display()), set()).add((j.attacker, j.eot))
    three = {("naive", None), ("non-adaptive", 1), ("adaptive", 4)}
    expected = {("", a): {("", None)} for a in ("patch-linf", "whitebox-l2")}
    for d in ("guardian", "grid", "grid+guardian", "secure"):
        expected[(d, "whitebox-l2")] = expected[(d, "patch-linf")] = three
    assert modes == expected
    assert len(jobs) == len({j.key for j in jobs}) == 20 * 2 * (1 + 4 * 3)
    # the attacks carry the reduced iterations stated in the file, and EOT only where planned
    for j in jobs:
        cfg = j.config["attack"]
        assert cfg["frames_per_round"] == 8 and cfg["eot"] == (j.eot or 1)
        assert cfg["iterations"] == (12 if j.attack.name == "patch" else 2)

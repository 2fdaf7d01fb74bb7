"""The ``advqa`` command line."""
from __future__ import annotations

import json
import logging
import sys

import click

from advqa import __version__
from advqa.errors import AdvqaError

log = logging.getLogger("advqa")


class _Group(click.Group):
    """Turns advqa errors into one-line messages (``--debug`` shows the traceback)."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except AdvqaError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"advqa: error: {exc}", err=True)
            ctx.exit(2)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"advqa: error: {exc}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("advqa: interrupted; finished rows are saved, rerun to resume", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless asked
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"advqa: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                       err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advqa")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Attack, defend and benchmark no-reference video quality models.

    \b
    Start with:
      advqa run                 robustness evaluation on the built-in demo data
      advqa models              list the quality models and their cards
      advqa score VIDEO...      score video files with a model
      advqa leaderboard DIR     the leaderboard page of a run (models x attacks, model cards)
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON.")
def models(as_json: bool) -> None:
    """List the registered quality models, one line of card each."""
    from advqa.models import available, card, summary
    from advqa.models.base import describe

    names = available()
    if as_json:
        click.echo(json.dumps([describe(card(n)) for n in names], indent=2))
        return
    rows = []
    for n in names:
        c = card(n)
        lo, hi = c.score_range
        better = "higher" if c.higher_is_better else "lower"
        rows.append((n, f"[{c.kind}; {lo:g}-{hi:g}, {better} is better; {c.licence.split(';')[0].split('(')[0].strip()}] "
                        f"{c.paper}"))
    _listing(rows)


def _listing(rows: list[tuple[str, str]]) -> None:
    width = max((len(n) for n, _ in rows), default=8) + 2
    for name, line in rows:
        click.echo(f"{name:{width}s}{line}")


@cli.command()
def attacks() -> None:
    """List the registered attacks with their default budgets."""
    from advqa.attacks import attack_class, available, summary

    rows = []
    for name in available():
        cls = attack_class(name)
        kind = "black-box" if not cls.needs_gradients else "white-box"
        if cls.needs_fit:
            kind += ", fitted on a train split"
        rows.append((name, f"[{kind}; default {cls.default_threat().describe()}] {summary(name)}"))
    _listing(rows)


@cli.command()
def defenses() -> None:
    """List the registered defences."""
    from advqa.defenses import DEFENSES, available, summary

    rows = []
    for name in available():
        cls = DEFENSES.get(name)
        traits = ["randomised" if cls.randomized_transform else "deterministic",
                  "differentiable" if cls.differentiable else "BPDA gradient"]
        rows.append((name, f"[{', '.join(traits)}] {summary(name)}"))
    if not rows:
        click.echo("no defences registered")
    _listing(rows)


def _eps(value: str | None) -> float | None:
    from advqa.bench.config import parse_number
    from advqa.errors import ConfigError

    if value is None:
        return None
    try:
        return parse_number(value, "--eps")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _options(pairs: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` options; values parsed as YAML scalars (numbers, booleans, strings)."""
    import yaml

    from advqa.bench.config import _FRACTION, parse_number

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}")
        parsed = yaml.safe_load(value) if value else None
        if isinstance(parsed, str) and _FRACTION.match(parsed):
            parsed = parse_number(parsed, key)
        out[key.strip().replace("-", "_")] = parsed
    return out


class _Bars:
    """tqdm progress bars keyed by description (one live bar per stage)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int, desc: str) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(desc)
        if bar is None:
            bar = self.bars[desc] = tqdm(total=total, desc=desc, leave=False, unit="video", file=sys.stderr)
        bar.n = done  # type: ignore[attr-defined]
        bar.refresh()  # type: ignore[attr-defined]
        if done >= total:
            bar.close()  # type: ignore[attr-defined]
            del self.bars[desc]


def _f(x: object, d: int = 4) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:.{d}f}" if isinstance(x, float) else str(x)


def _summary_table(summary: list[dict], title: str) -> None:
    """The summary as a table; defence and attacker columns when any row has them."""
    from rich.console import Console
    from rich.table import Table

    f = _f
    defended = any(s.get("defense") or s.get("attacker") for s in summary)
    table = Table(title=title)
    for col in ("model", *(("defense",) if defended else ()), "dataset", "attack", *(("attacker",) if defended else ()),
                "n", "SRCC before -> after", "PLCC before -> after", "R", "L2 x255", "Linf x255", "PSNR dB",
                "queries", "s/video"):
        left = col in ("model", "defense", "dataset", "attack", "attacker")
        table.add_column(col, justify="left" if left else "right")
    for s in summary:
        n = f"{s['n']}" + (f" (+{s['skipped']} skipped)" if s["skipped"] else "")
        table.add_row(s["model"], *((s["defense"] or "-",) if defended else ()), s["dataset"], s["attack"],
                      *((s["attacker"] or "-",) if defended else ()), n,
                      f"{f(s['srcc_before'])} -> {f(s['srcc_after'])}", f"{f(s['plcc_before'])} -> {f(s['plcc_after'])}",
                      f(s["r"]), f(s["l2"] * 255, 3), f(s["linf"] * 255, 2), f(s["psnr"], 2), f(s["queries"], 0),
                      f(s["time_s"], 2))
    Console(width=220).print(table)


def _msu_table(summary: list[dict]) -> None:
    """The MSU benchmark's scores (Antsiferova et al., AAAI 2024) of each summary row."""
    if not any(s["n"] for s in summary):
        return
    from rich.console import Console
    from rich.table import Table

    def ci(s: dict, key: str) -> str:
        lo, hi = s.get(f"{key}_lo"), s.get(f"{key}_hi")
        tail = "" if lo is None or lo != lo or hi != hi else f" [{_f(lo, 3)}, {_f(hi, 3)}]"
        return _f(s[key], 3) + tail

    defended = any(s.get("defense") or s.get("attacker") for s in summary)
    table = Table(title="MSU benchmark scores (scaled with the clean scores of each set; [95% interval]; "
                        "robustness: higher is more robust)")
    for col in ("model", *(("defense",) if defended else ()), "dataset", "attack",
                *(("attacker",) if defended else ()), "robustness", "abs. gain", "rel. gain", "Wasserstein", "energy", "SRCC change"):
        table.add_column(col, justify="left" if col in ("model", "defense", "dataset", "attack", "attacker")
                         else "right")
    for s in summary:
        if not s["n"]:
            continue
        table.add_row(s["model"], *((s["defense"] or "-",) if defended else ()), s["dataset"], s["attack"],
                      *((s["attacker"] or "-",) if defended else ()), ci(s, "robustness"), ci(s, "abs_gain"),
                      ci(s, "rel_gain"), _f(s["wasserstein"], 3), _f(s["energy"], 3), ci(s, "srcc_change"))
    Console(width=220).print(table)


def _cost_table(costs: list[dict]) -> None:
    """Each defence's clean-accuracy cost (undefended -> defended clean SRCC / PLCC)."""
    if not costs:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="clean-accuracy cost of each defence (undefended -> defended, same videos)")
    for col in ("model", "defense", "dataset", "n", "SRCC", "PLCC"):
        table.add_column(col, justify="left" if col in ("model", "defense", "dataset") else "right")
    for c in costs:
        table.add_row(c["model"], c["defense"], c["dataset"], str(c["n"]),
                      f"{_f(c['srcc_undefended'])} -> {_f(c['srcc_defended'])}",
                      f"{_f(c['plcc_undefended'])} -> {_f(c['plcc_defended'])}")
    Console(width=220).print(table)


def _certified_table(cert: list[dict]) -> None:
    """Median certified interval width per (model, dataset, settings, radius)."""
    if not cert:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="certified score bounds (randomised smoothing; width: median over videos, "
                        "inf where half or more abstain)")
    for col in ("model", "dataset", "bound", "sigma", "n draws", "alpha", "radius", "RMS x255", "videos",
                "abstained", "width"):
        table.add_column(col, justify="left" if col in ("model", "dataset", "bound") else "right")
    for c in cert:
        table.add_row(c["model"] + (f"+{c['defense']}" if c["defense"] else ""), c["dataset"], c["bound"],
                      f"{c['sigma']:g}", str(c["samples"]), f"{c['alpha']:g}", f"{c['radius']:g}",
                      _f(c["rms_255"]), str(c["n"]), str(c["abstained"]), _f(c["width_median"]))
    Console(width=220).print(table)


def _defended(model, names: tuple[str, ...], pairs: tuple[str, ...]):  # noqa: ANN001, ANN202
    """``model`` wrapped in the ``--defense`` chain (itself when none is given)."""
    if not names and not pairs:
        return model
    from advqa.defenses import create as create_defense

    return create_defense([dict(e) for e in _defense_spec(names, pairs)], model)


def _defense_spec(names: tuple[str, ...], pairs: tuple[str, ...]) -> tuple[dict, ...]:
    """``--defense`` names (a chain, in the order given) with ``-D KEY=VALUE`` options: plain keys
    for a single defence, ``NAME.KEY=VALUE`` to address one defence of a chain."""
    from advqa.bench.config import parse_defense

    if pairs and not names:
        raise click.BadParameter("-D/--defense-option needs --defense NAME", param_hint="-D")
    entries: list[dict] = [{"name": n} for n in names]
    for key, value in _options(pairs).items():
        target, dot, opt = key.partition(".")
        if dot:
            hits = [e for e in entries if e["name"] == target]
            if not hits:
                raise click.BadParameter(f"{key}: no defence {target!r} in --defense {' '.join(names)}",
                                         param_hint="-D")
            for e in hits:
                e[opt] = value
        elif len(entries) == 1:
            entries[0][key] = value
        else:
            raise click.BadParameter(f"{key}: with a chain of defences write NAME.{key}=VALUE", param_hint="-D")
    return parse_defense(entries, "--defense")


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Experiment YAML (models x datasets x attacks), or a shipped one by name: demo, benchmark, certify, defenses.")
@click.option("--model", "model_names", multiple=True, help="Model name(s); default: the demo's (litevsfa).")
@click.option("--weights", help="Weights file or URL for the (single) model.")
@click.option("--attack", "attack_names", multiple=True, help="Attack name(s): whitebox, pgd, fgsm, ifgsm, mifgsm, amifgsm, patch, simba.")
@click.option("--norm", type=click.Choice(["linf", "l2", "jnd"]), help="Budget norm for the named attacks (jnd: |delta| <= JND map, eps caps it).")
@click.option("--eps", help="Budget in [0,1] pixel units, e.g. 3/255.")
@click.option("--dataset", help="Dataset name (demo, konvid-1k, live-vqc, youtube-ugc, lsvq).")
@click.option("--root", type=click.Path(file_okay=False), help="Folder of a real dataset.")
@click.option("--split", help="Dataset split (demo: train/test/all; lsvq: train/test/test-1080p/all).")
@click.option("--allow-missing", is_flag=True, help="Drop label entries whose video file is missing instead of failing.")
@click.option("--videos", type=click.IntRange(min=1), help="Number of videos drawn with the seed (papers: 50).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Frames read per video.")
@click.option("--out", "out_dir", default="advqa-out", show_default=True, type=click.Path(file_okay=False), help="Output folder (results.sqlite, report.html).")
@click.option("--device", help="torch device, e.g. cpu or cuda.")
@click.option("--seed", type=int, help="Seed for video sampling and attacks.")
@click.option("--save-adversarial", is_flag=True, default=None, help="Save adversarial videos losslessly (FFV1 .mkv).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report and the leaderboard.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("-P", "--param", "attack_params", multiple=True, metavar="KEY=VALUE",
              help="Attack parameter, e.g. -P iterations=10 -P context=frame -P frames_per_round=2 -P queries=500.")
@click.option("-O", "--option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option, e.g. -O backbone_weights=resnet50.pth, -O output=K (mdtvsfa), -O num_clips=1.")
@click.option("--defense", "defense_names", multiple=True, metavar="NAME",
              help="Defend the model(s) with this defence; repeat for a chain (applied in the order given).")
@click.option("-D", "--defense-option", "defense_options", multiple=True, metavar="KEY=VALUE",
              help="Defence option, e.g. -D quality=50; NAME.KEY=VALUE for one defence of a chain.")
@click.option("--attacker", "attackers", multiple=True, type=click.Choice(["naive", "non-adaptive", "adaptive"]),
              help="How attacks treat a defence (repeatable; default: all three for a randomised defence, "
                   "naive and adaptive for a deterministic one).")
@click.option("--eot", type=click.IntRange(min=1), help="EOT samples of the adaptive attacker (default 8).")
@click.option("--executor", "executor_name", type=click.Choice(["serial", "ray"]),
              help="Where jobs run: in this process (serial, default) or on Ray (pip install 'advqa[ray]').")
@click.option("--address", help="Ray cluster address (e.g. auto, or host:6379); default: $RAY_ADDRESS, else a local Ray.")
@click.option("--workers", type=click.IntRange(min=1), help="Ray worker processes (default: one per CPU).")
def run(config_path: str | None, model_names: tuple[str, ...], weights: str | None, attack_names: tuple[str, ...],
        norm: str | None, eps: str | None, dataset: str | None, root: str | None, split: str | None,
        allow_missing: bool, videos: int | None, max_frames: int | None, out_dir: str, device: str | None, seed: int | None,
        save_adversarial: bool | None, no_report: bool, quiet: bool, attack_params: tuple[str, ...],
        model_options: tuple[str, ...], defense_names: tuple[str, ...], defense_options: tuple[str, ...],
        attackers: tuple[str, ...], eot: int | None, executor_name: str | None, address: str | None,
        workers: int | None) -> None:
    """Robustness evaluation: attack models on a dataset, store rows in SQLite, print the table, write the
    report and the leaderboard.

    With no options it runs the shipped demo experiment (advqa/resources/demo.yaml): the default
    model on the demo test split under the white-box SRB attack (L2 and Linf) and the black-box
    patch attack. A rerun with the same output folder resumes and skips finished rows.
    --defense wraps every model in a defence; each attack then runs once per attacker mode.
    """
    import dataclasses

    from advqa.bench.config import AttackSpec, DatasetSpec, ModelSpec, demo_experiment, load_experiment
    from advqa.bench.report import build_report
    from advqa.bench.runner import run_experiment
    from advqa.bench.store import ResultStore
    from advqa.bench.aggregate import certified_summary, defense_costs, summarize

    exp = load_experiment(config_path) if config_path else demo_experiment()
    changes: dict[str, object] = {}
    opts = _options(model_options)
    defense = _defense_spec(defense_names, defense_options) if defense_names or defense_options else None
    if model_names:
        changes["models"] = tuple(ModelSpec(m, weights, opts, defense or ()) for m in model_names)
    elif weights or opts or defense:
        changes["models"] = tuple(ModelSpec(m.name, weights or m.weights, {**m.options, **opts},
                                            m.defense if defense is None else defense) for m in exp.models)
    if attackers:
        changes["attackers"] = tuple(dict.fromkeys(attackers))
    if eot is not None:
        changes["eot"] = eot
    aparams = _options(attack_params)
    if attack_names:
        changes["attacks"] = tuple(AttackSpec(a, norm, _eps(eps), params=aparams) for a in attack_names)
    elif norm or eps or aparams:
        changes["attacks"] = tuple(dataclasses.replace(a, norm=norm or a.norm, eps=_eps(eps) if eps else a.eps,
                                                       params={**a.params, **aparams}) for a in exp.attacks)
    if dataset or root or split or videos or max_frames or allow_missing:
        base = exp.datasets[0]
        changes["datasets"] = (DatasetSpec(dataset or base.name, root if root else (None if dataset else base.root),
                                           split if split else (None if dataset else base.split),
                                           videos or base.videos, max_frames or base.max_frames,
                                           allow_missing or base.allow_missing),)
    if device:
        changes["device"] = device
    if seed is not None:
        changes["seed"] = seed
    if save_adversarial is not None:
        changes["save_adversarial"] = save_adversarial
    if executor_name or address or workers:
        from advqa.bench.config import parse_executor

        spec = dict(exp.executor) if not executor_name or executor_name == exp.executor.get("name") \
            else {"name": executor_name}
        if address or workers:
            if spec["name"] != "ray":
                raise click.UsageError("--address and --workers need --executor ray")
            spec.update({k: v for k, v in (("address", address), ("workers", workers)) if v})
        changes["executor"] = parse_executor(spec, "--executor")
    exp = dataclasses.replace(exp, **changes)

    result = run_experiment(exp, out_dir, progress=_Bars(not quiet))
    with ResultStore(result.database) as store:
        summary = summarize(store)
        costs = defense_costs(store)
        cert = certified_summary(store)
    if summary or not cert:
        _summary_table(summary, f"advqa run: {exp.name}  (values: before -> after attack)")
        _msu_table(summary)
    _cost_table(costs)
    _certified_table(cert)
    click.echo(f"rows computed: {result.computed}, reused from earlier runs: {result.reused}, "
               f"videos skipped: {len(result.skipped)}")
    if result.certified or result.certified_reused:
        click.echo(f"videos certified: {result.certified}, reused: {result.certified_reused}")
    if result.fitted or result.states_reused:
        click.echo(f"attack states fitted: {result.fitted}, reused: {result.states_reused} "
                   f"({result.out_dir / 'states'})")
    for dkey, video, reason in result.skipped:
        click.echo(f"  skipped {dkey}/{video}: {reason}")
    click.echo(f"results: {result.database}")
    if not no_report:
        from advqa.bench.leaderboard import build_leaderboard
        from advqa.errors import InputError

        click.echo(f"report: {build_report(result.database, title=f'advqa report: {exp.name}')}")
        try:
            click.echo(f"leaderboard: {build_leaderboard(result.database, title=f'advqa leaderboard: {exp.name}')}")
        except InputError as exc:  # nothing was attacked (every video skipped): the report says why
            log.warning("no leaderboard: %s", exc)


def _input_kind(path: str) -> tuple[bool, str]:
    """``(is_image, default model)`` of a file: an image file (PNG, JPEG, BMP, ...: the image reader
    names an unsupported format) is scored by default with the image model, any other file is a
    video for the video model."""
    from advqa.io import is_image_file
    from advqa.models import DEFAULT_IMAGE_MODEL, DEFAULT_MODEL

    image = is_image_file(path, any_format=True)
    return image, DEFAULT_IMAGE_MODEL if image else DEFAULT_MODEL


def _read_input(path: str, image: bool, max_frames: int | None):  # noqa: ANN202
    """The file as ``(1, T, 3, H, W)`` in [0, 1]: an image is a 1-frame video."""
    from advqa.bench.runner import load_clip
    from advqa.io import read_image

    return read_image(path).unsqueeze(1) if image else load_clip(path, max_frames)


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="FILE...")
@click.option("--model", "model_name", default=None,
              help="Model name (default: litevsfa for videos, liteiqa for images).")
@click.option("--weights", help="Weights file or URL.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--max-frames", type=click.IntRange(min=1), help="Score only the first N frames of a video.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of a stochastic model's sampling.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.option("-O", "--option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option, e.g. -O backbone_weights=resnet50.pth, -O output=K (mdtvsfa), -O num_clips=1.")
@click.option("--defense", "defense_names", multiple=True, metavar="NAME",
              help="Defend the model with this defence; repeat for a chain (applied in the order given).")
@click.option("-D", "--defense-option", "defense_options", multiple=True, metavar="KEY=VALUE",
              help="Defence option, e.g. -D quality=50; NAME.KEY=VALUE for one defence of a chain.")
def score(videos: tuple[str, ...], model_name: str | None, weights: str | None, device: str,
          max_frames: int | None, seed: int, as_json: bool, model_options: tuple[str, ...],
          defense_names: tuple[str, ...] = (), defense_options: tuple[str, ...] = ()) -> None:
    """Score video or image files with a quality model (any size and length).

    Image files (PNG, JPEG, BMP; 16-bit samples rounded to 8 bits, grey replicated to RGB, alpha
    dropped) are scored with the default image model (liteiqa) and videos with the default video
    model (litevsfa), unless --model names one model for all of them: a video model then sees an
    image as a 1-frame video, an image model scores a video's frames and averages them.
    """
    import torch

    from advqa.io import is_image_file
    from advqa.models import create

    options = _options(model_options)
    kinds = {is_image_file(p, any_format=True) for p in videos}
    if model_name is None and (weights or options) and len(kinds) > 1:
        raise click.BadParameter("--weights and -O apply to one model, but the files mix images (liteiqa) and "
                                 "videos (litevsfa); name the model with --model or score them separately",
                                 param_hint="--weights/-O")
    models: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in models:
            models[name] = _defended(create(name, weights=weights, device=device, **options),
                                     defense_names, defense_options)
            models[name].seed(seed)
        return models[name]

    if model_name is not None:  # build it first: a bad name or option fails before any file is read
        get(model_name)
    failures = 0
    for path in videos:
        image, default = _input_kind(path)
        try:
            clip = _read_input(path, image, max_frames)
        except AdvqaError as exc:
            failures += 1
            click.echo(f"advqa: error: {exc}", err=True)
            continue
        model = get(model_name or default)
        with torch.no_grad():
            value = float(model(clip.to(device))[0])
        label = model.card.name  # e.g. litevsfa+guardian for a defended model
        if as_json:
            key = "image" if image else "video"
            click.echo(json.dumps({key: path, "model": label, "score": value, "frames": int(clip.shape[1])}))
        else:
            click.echo(f"{path}\t{label}\t{value:.6f}")
    if failures:
        sys.exit(2)


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False), metavar="FILE")
@click.option("--attack", "attack_name", default="whitebox", show_default=True, help="Attack name.")
@click.option("--norm", type=click.Choice(["linf", "l2", "jnd"]), help="Budget norm (default: the attack's paper default; jnd: |delta| <= JND map, eps caps it).")
@click.option("--eps", help="Budget, e.g. 3/255.")
@click.option("--loss", help="Loss: srb, mse, mid, up, down (default: the attack's).")
@click.option("--model", "model_name", default=None,
              help="Model name (default: litevsfa for a video, liteiqa for an image).")
@click.option("--weights", help="Weights file or URL.")
@click.option("--mos", type=float, help="The video's MOS (recorded; a single video has no Eq. 7 statistics, so give --target for a boundary).")
@click.option("--target", type=float, help="Target score (overrides the boundary).")
@click.option("--max-frames", type=click.IntRange(min=1))
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Save the adversarial video losslessly (.mkv), or the adversarial image (.png or .bmp).")
@click.option("-P", "--param", "attack_params", multiple=True, metavar="KEY=VALUE",
              help="Attack parameter, e.g. -P iterations=10 -P context=frame -P frames_per_round=2 -P queries=500.")
@click.option("-O", "--option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option, e.g. -O backbone_weights=resnet50.pth, -O output=K (mdtvsfa), -O num_clips=1.")
@click.option("--defense", "defense_names", multiple=True, metavar="NAME",
              help="Defend the model with this defence; repeat for a chain (applied in the order given).")
@click.option("-D", "--defense-option", "defense_options", multiple=True, metavar="KEY=VALUE",
              help="Defence option, e.g. -D quality=50; NAME.KEY=VALUE for one defence of a chain.")
def attack(video: str, attack_name: str, norm: str | None, eps: str | None, loss: str | None, model_name: str | None,
           weights: str | None, mos: float | None, target: float | None, max_frames: int | None, device: str,
           seed: int, output: str | None, attack_params: tuple[str, ...], model_options: tuple[str, ...],
           defense_names: tuple[str, ...] = (), defense_options: tuple[str, ...] = ()) -> None:
    """Attack one video or image file and print the score before and after.

    An image (PNG, JPEG, BMP; read as `advqa score` reads it) is attacked as a 1-frame video with
    the default image model (liteiqa) unless --model names another: the budget is then the
    image's, per pixel for Linf and as the RMS over its pixels for L2. A universal perturbation
    is applied from its file (-P uap_path=FILE.npy or a saved state); fitting one on a dataset is
    `advqa run`'s job.
    """
    from pathlib import Path

    import torch

    from advqa.attacks import create as create_attack
    from advqa.io.image import LOSSLESS_IMAGE_SUFFIXES
    from advqa.models import create

    image, default = _input_kind(video)
    if output:
        suffix = Path(output).suffix.lower()
        wanted = LOSSLESS_IMAGE_SUFFIXES if image else (".mkv",)
        if suffix not in wanted:
            raise click.BadParameter(f"{output}: the adversarial {'image' if image else 'video'} is saved "
                                     f"losslessly as {' or '.join(wanted)}, not {suffix or 'a file without a suffix'}",
                                     param_hint="--output")
    params = _options(attack_params)
    if loss:
        params["loss"] = loss
    atk = create_attack(attack_name, norm=norm, eps=_eps(eps), seed=seed, **params)
    model = _defended(create(model_name or default, weights=weights, device=device, **_options(model_options)),
                      defense_names, defense_options)
    model.seed(seed)
    clip = _read_input(video, image, max_frames).to(device)
    res = atk(model, clip, mos=mos, target=target, generator=torch.Generator().manual_seed(seed))
    click.echo(f"{video}: {res.clean_score:.4f} -> {res.adv_score:.4f} ({atk.name}, {res.threat.norm} "
               f"eps={res.threat.eps * 255:.3g}/255; L2={res.l2 * 255:.3f}/255, Linf={res.linf * 255:.0f}/255, "
               f"PSNR={res.psnr:.2f} dB, {res.queries} queries, {res.time_s:.1f} s)")
    if output:
        from advqa.io import write_image, write_video_lossless

        if image:
            write_image(output, res.frames_uint8()[0].numpy())
        else:
            write_video_lossless(output, res.frames_uint8().numpy(), fps=25.0)
        click.echo(f"saved {output}")


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--model", "model_name", default=None, help="Base model name (default: litevsfa).")
@click.option("--weights", help="Weights file or URL.")
@click.option("--sigma", type=float, default=0.12, show_default=True,
              help="Noise standard deviation, [0,1] pixel units.")
@click.option("--radius", type=float, required=True,
              help="Certified radius: L2 norm over all pixel-channels of the (decoded) video, [0,1] units.")
@click.option("--samples", type=int, default=1000, show_default=True, help="Noise draws n.")
@click.option("--alpha", type=float, default=0.001, show_default=True,
              help="Failure probability per side; the interval holds with probability >= 1 - 2 alpha.")
@click.option("--batch", type=int, default=16, show_default=True, help="Noise draws per model call.")
@click.option("--bound", type=click.Choice(["median", "mean"]), default="median", show_default=True,
              help="median: Chiang et al. 2020; mean: bounded-score mean smoothing (Hoeffding).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Certify only the first N frames.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise (and a stochastic model).")
@click.option("--json", "as_json", is_flag=True, help="Print the certificate as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("-O", "--option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option, e.g. -O backbone_weights=resnet50.pth.")
def certify(video: str, model_name: str | None, weights: str | None, sigma: float, radius: float, samples: int,
            alpha: float, batch: int, bound: str, max_frames: int | None, device: str, seed: int, as_json: bool,
            quiet: bool, model_options: tuple[str, ...]) -> None:
    """Certified bounds on a video's smoothed score under every L2 perturbation of norm <= RADIUS.

    The smoothed score is the median (or mean) of the model's score under Gaussian noise of
    standard deviation SIGMA; the interval holds for every perturbation whose L2 norm over all
    pixel-channels of the decoded frames is at most RADIUS, with probability >= 1 - 2 ALPHA over
    the noise. Certifiable radii are small: an RMS of 1/255 on one 224x224 frame is an L2 of 1.52.
    Cost: SAMPLES model calls on the whole clip (batched by BATCH); --max-frames keeps it short.
    """
    import torch

    from advqa.bench.runner import load_clip
    from advqa.defenses.smoothing import certify as certify_median
    from advqa.defenses.smoothing import certify_mean, check_smoothing_args
    from advqa.models import DEFAULT_MODEL, create

    check_smoothing_args(sigma, radius, samples, alpha, batch)
    clip = load_clip(video, max_frames)
    name = model_name or DEFAULT_MODEL
    model = create(name, weights=weights, device=device, **_options(model_options))
    if model.randomized:
        model.seed(seed)
    clip = clip.to(device)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=samples, desc="noise samples", unit="sample", leave=False, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.n = done
            bar.refresh()

    fn = certify_median if bound == "median" else certify_mean
    try:
        cert = fn(model, clip, sigma=sigma, radius=radius, samples=samples, alpha=alpha, batch=batch,
                  generator=torch.Generator().manual_seed(seed), progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        click.echo(json.dumps({"video": video, "model": name, "frames": int(clip.shape[1]), **cert.to_dict()}))
        return

    def side(value: float | None) -> str:
        return "abstain" if value is None else f"{value:.4f}"

    t, _, h, w = clip.shape[1:]
    click.echo(f"{video}: {bound}-smoothed {name} score {cert.score:.4f} (sigma={sigma:g}, n={samples})")
    click.echo(f"certified for ||delta||_2 <= {radius:g} over {t}x3x{h}x{w} pixel-channels "
               f"(per-frame RMS {cert.rms_255:.4g}/255 if spread equally): "
               f"[{side(cert.lower)}, {side(cert.upper)}] with probability >= {cert.confidence:g}")


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False))
def probe(videos: tuple[str, ...]) -> None:
    """Print a video file's frames, size, fps, codec and duration without decoding it all."""
    from advqa.io import probe as probe_video

    for path in videos:
        info = probe_video(path)
        notes = ["frame count from the MP4 sample table" if info.frames_source == "header"
                 else "frames counted by demuxing"]
        if info.header_frames and info.header_frames != info.frames:
            notes.append(f"the header declares {info.header_frames}")
        if info.nominal_fps and abs(info.fps - info.nominal_fps) > 1e-3 * info.nominal_fps:
            notes.append(f"nominal {info.nominal_fps:.3f} fps; timestamps have gaps (variable frame rate "
                         "or dropped frames)")
        click.echo(f"{path}: {info.frames} frames, {info.width}x{info.height}, {info.fps:.3f} fps, "
                   f"{info.codec}, {info.duration_s:.2f} s, {info.pix_fmt} ({'; '.join(notes)})")


@cli.command("train-attack")
@click.argument("attack_name", type=click.Choice(["stqa", "stqa-targeted"]))
@click.option("--model", "model_name", default="litevsfa", show_default=True,
              help="The registered model to train the attack network against (white-box).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Where to save the state (.pt). [default: <attack>_<model>.pt]")
@click.option("--videos", type=click.IntRange(min=1), default=32, show_default=True,
              help="Demo train-split videos to fit on (a seeded subset).")
@click.option("--max-frames", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames decoded per video.")
@click.option("--frames", type=click.IntRange(min=1), default=2, show_default=True,
              help="Consecutive frames per training clip (random start each step).")
@click.option("--epochs", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_attack(attack_name: str, model_name: str, out_path: str | None, videos: int, max_frames: int,
                 frames: int, epochs: int, seed: int) -> None:
    """Train a generative attack network (STQA-Net, Hu et al., KBS 2024) on the demo train split.

    \b
    The shipped litevsfa states were made with the defaults:
      advqa train-attack stqa --model litevsfa
      advqa train-attack stqa-targeted --model litevsfa
    Use the result with `advqa attack VIDEO --attack stqa -o weights=PATH` (or weights: in a config).
    """
    from advqa.attacks.stqa import train_default

    out = out_path or f"{attack_name.replace('-', '_')}_{model_name}.pt"
    _, record = train_default(model_name, targeted=attack_name == "stqa-targeted", videos=videos,
                              max_frames=max_frames, epochs=epochs, frames=frames, seed=seed, out=out)
    click.echo(f"saved {out}: {record['parameters']} parameters, fitted on {record['videos']} videos in "
               f"{record['fit_s']:.0f} s; SHA-256 {record['sha256']}")


@cli.command()
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to save the trained weights (.pt): the litevsfa head, or the trained parameters.")
@click.option("--model", "model_name", help="Fine-tune this registered model (video or image) instead of "
              "retraining litevsfa's head on cached features.")
@click.option("--weights", help="Starting weights of --model (default: its own).")
@click.option("--trainable", multiple=True, metavar="PREFIX",
              help="Parameter-name prefix to train (repeat, or comma-separate), e.g. head.,backbone._blocks.15. "
                   "[default: head.]")
@click.option("--nt-lambda", type=float, help="Weight of the NT gradient-norm regulariser (Liu et al., CVPR 2024); "
              "0 trains with L1 alone. [default: 0]")
@click.option("--nt-h", type=float, help="NT finite-difference step. [default: 0.01]")
@click.option("--h-space", type=click.Choice(["normalized", "pixels"]),
              help="Space of --nt-h: the model's normalised input (the official code's) or [0, 1] pixels. "
                   "[default: normalized]")
@click.option("--dataset", "dataset_name", help="Labelled dataset to train on. [default: demo]")
@click.option("--split", help="Its split. [default: train]")
@click.option("--root", type=click.Path(file_okay=False), help="Folder of a real dataset.")
@click.option("--eval-split", help="Also report correlations on this split of the dataset (e.g. test).")
@click.option("--frames", type=click.IntRange(min=1), help="Frames sampled per video and step. [default: 4]")
@click.option("--batch-size", type=click.IntRange(min=1), help="Videos per optimiser step. [default: 8]")
@click.option("--max-videos", type=click.IntRange(min=2), help="Train on a seeded subset of this many videos.")
@click.option("--epochs", type=click.IntRange(min=1), help="[default: 300 for the head, 1 when fine-tuning]")
@click.option("--lr", type=float, help="[default: 1e-3 for the head, 1e-4 when fine-tuning]")
@click.option("--lr-for", "lr_for", multiple=True, metavar="PREFIX=LR",
              help="Own learning rate for the trainable parameters under PREFIX (repeatable), e.g. backbone.=1e-5.")
@click.option("--seed", type=int, default=0, show_default=True)
def train(out_path: str, model_name: str | None, weights: str | None, trainable: tuple[str, ...],
          nt_lambda: float | None, nt_h: float | None, h_space: str | None, dataset_name: str | None,
          split: str | None, root: str | None, eval_split: str | None, frames: int | None,
          batch_size: int | None, max_videos: int | None, epochs: int | None, lr: float | None,
          lr_for: tuple[str, ...], seed: int) -> None:
    """Train a quality model.

    \b
    Without fine-tuning options: retrain the default model's head on the demo train split
    (backbone frozen, cached features; see advqa.training.litevsfa), as the shipped head was made.
    With --model/--trainable/--nt-*/--dataset/--frames/...: fine-tune the chosen parameters of a
    model (default litevsfa) with L1 and optionally NT regularisation, and save only those
    parameters, e.g. the shipped litevsfa-nt:
      advqa train --model litevsfa --trainable head.,backbone._blocks.15. --nt-lambda 1e-3 --out nt.pt
    """
    finetuning = any(v is not None for v in (model_name, weights, nt_lambda, nt_h, h_space, dataset_name, split,
                                             root, eval_split, frames, batch_size, max_videos)) or bool(trainable
                                                                                                      or lr_for)
    if not finetuning:
        from advqa.training.litevsfa import main as train_main

        rc = train_main(["--out", out_path, "--epochs", str(epochs or 300), "--lr", str(lr or 1e-3),
                         "--seed", str(seed)])
        click.echo(f"saved {out_path}")
        if rc:
            sys.exit(rc)
        return

    import torch

    from advqa.data import load_dataset
    from advqa.models import create
    from advqa.models.weights import sha256_file
    from advqa.training.finetune import finetune, select_trainable
    from advqa.training.nt import check_nt_options, h_step

    prefixes = [p.strip() for item in (trainable or ("head.",)) for p in item.split(",") if p.strip()]
    rates: dict[str, float] = {}
    for item in lr_for:
        prefix, sep, value = item.rpartition("=")
        try:
            rates[prefix.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not prefix.strip():
            raise click.BadParameter(f"expected PREFIX=LR, got {item!r}", param_hint="--lr-for")
    check_nt_options(0.0 if nt_lambda is None else nt_lambda, 1e-2 if nt_h is None else nt_h, h_space or "normalized")
    model = create(model_name or "litevsfa", weights=weights)
    select_trainable(model, prefixes)  # bad prefixes fail before the dataset is loaded
    if nt_lambda:
        h_step(model, 1e-2 if nt_h is None else nt_h, h_space or "normalized")
    train_set = load_dataset(dataset_name or "demo", root=root, split=split or "train")
    test_set = load_dataset(dataset_name or "demo", root=root, split=eval_split) if eval_split else None
    result = finetune(model, train_set, trainable=prefixes, nt_lambda=0.0 if nt_lambda is None else nt_lambda,
                      nt_h=1e-2 if nt_h is None else nt_h, h_space=h_space or "normalized",
                      epochs=epochs or 1, frames=frames or 4, batch_size=batch_size or 8,
                      lr=1e-4 if lr is None else lr, lr_for=rates, seed=seed, max_videos=max_videos, test_set=test_set,
                      progress=True)
    torch.save(result.state_dict, out_path)
    last = result.history[-1]
    click.echo(f"trained {result.metrics['parameters']} parameters of {model.card.name} "
               f"({len(result.state_dict)} tensors) on {result.metrics['videos']} videos: "
               f"L1 {last['l1']:.4f}, NT {last['reg']:.4g} (mean |fd| {last['fd']:.4g})")
    if "test" in result.metrics:
        t = result.metrics["test"]
        click.echo(f"{eval_split}: SRCC {t['srcc']:.4f}, PLCC {t['plcc']:.4f}, KROCC {t['krocc']:.4f}, "
                   f"RMSE {t['rmse']:.4f} over {t['n']} videos")
    click.echo(f"saved {out_path} (sha256 {sha256_file(out_path)})")


@cli.group()
def datasets() -> None:
    """List, build and inspect datasets."""


@datasets.command("list")
def datasets_list() -> None:
    """The dataset names advqa knows."""
    from advqa.data import available

    for name, desc in available().items():
        click.echo(f"{name:12s} {desc}")


@datasets.command("build")
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), help="Where to build (default: the cache).")
@click.option("--force", is_flag=True, help="Rebuild even if a complete build exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def datasets_build(name: str, root: str | None, force: bool, quiet: bool) -> None:
    """Build a generated dataset (only 'demo' is generated; it is also built on first use)."""
    from pathlib import Path

    from advqa.errors import UnknownNameError

    if name != "demo":
        raise UnknownNameError("buildable dataset", name, ["demo"])
    from advqa.data.demo import build_demo

    bars = _Bars(not quiet)
    path = build_demo(Path(root) if root else None, force=force,
                      progress=lambda done, total, msg: bars("build", done, total, "building demo"))
    click.echo(f"demo dataset ready at {path}")


@datasets.command("show")
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), help="Folder of a real dataset.")
@click.option("--split")
def datasets_show(name: str, root: str | None, split: str | None) -> None:
    """Load a dataset and print its size and MOS statistics."""
    import numpy as np

    from advqa.data import load_dataset

    ds = load_dataset(name, root=root, split=split)
    mos = np.array([s.mos for s in ds], dtype=float)
    click.echo(f"{ds.name}: {len(ds)} videos, MOS range {ds.mos_range}, "
               f"MOS min/median/max {mos.min():.3f}/{np.median(mos):.3f}/{mos.max():.3f}")


def _database(location: str):  # noqa: ANN202
    """The results database of a run folder or a results.sqlite path (FileNotFoundError when missing)."""
    from pathlib import Path

    path = Path(location)
    db = path / "results.sqlite" if path.is_dir() else path
    if not db.is_file():
        raise FileNotFoundError(f"no results database at {db}: run 'advqa run --out DIR' first")
    return db


def _write(text: str, output: str | None, n: int) -> None:
    from pathlib import Path

    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {n} rows to {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("location", default="advqa-out", type=click.Path())
@click.option("--export", "fmt", type=click.Choice(["table", "csv", "json", "latex"]), default="table",
              show_default=True, help="latex: a booktabs tabular of the summary's main columns (or of the costs).")
@click.option("--rows", "per_video", is_flag=True, help="Export per-video rows instead of the summary.")
@click.option("--costs", is_flag=True, help="Export each defence's clean-accuracy cost instead of the summary.")
@click.option("--certified", is_flag=True,
              help="Export the certified bounds (median width per radius; with --rows, one row per video and radius).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def results(location: str, fmt: str, per_video: bool, costs: bool, certified: bool, output: str | None) -> None:
    """List or export results from a run folder or a results.sqlite file.

    The summary and the rows carry the defence and attacker columns ('' for an undefended model);
    the summary also carries the MSU benchmark scores (gains and robustness score with 95%
    t-intervals, Wasserstein and energy scores) and the SRCC / PLCC changes with bootstrap
    intervals. CSV and JSON hold every column at full precision (JSON writes an undefined value as
    null); LaTeX rounds to 3 decimals.
    """
    from advqa.bench.aggregate import (
        CERTIFIED_COLUMNS,
        COST_COLUMNS,
        SUMMARY_COLUMNS,
        certified_summary,
        defense_costs,
        summarize,
    )
    from advqa.bench.leaderboard import export
    from advqa.bench.store import CERTIFIED_FIELDS, RESULT_FIELDS, ResultStore

    db = _database(location)
    if costs and (per_video or certified):
        raise click.BadParameter("--costs goes alone: give --rows, --costs or --certified (or --certified --rows)")
    if per_video and fmt == "latex":
        raise click.BadParameter("per-video rows export as csv or json; latex is for the summary or --costs",
                                 param_hint="--export")
    if certified and fmt == "latex":
        raise click.BadParameter("certified bounds export as a table, csv or json", param_hint="--export")
    with ResultStore(db) as store:
        if certified:
            data = store.certified_rows() if per_video else certified_summary(store)
        else:
            data = store.rows() if per_video else defense_costs(store) if costs else summarize(store)
    if certified:
        cols = CERTIFIED_FIELDS if per_video else CERTIFIED_COLUMNS
    else:
        cols = RESULT_FIELDS if per_video else COST_COLUMNS if costs else SUMMARY_COLUMNS
    if fmt == "table":
        if certified and not per_video:
            _certified_table(data)
            return
        if per_video:
            fmt = "csv"
        elif costs:
            _cost_table(data)
            return
        else:
            _summary_table(data, f"results in {db}")
            _msu_table(data)
            return
    if fmt == "latex":
        if not costs:
            cols = LATEX_SUMMARY_COLUMNS
            if not any(r["defense"] or r["attacker"] for r in data):
                cols = tuple(c for c in cols if c not in ("defense", "attacker"))
        text = export(cols, data, "latex", caption=f"advqa results ({db.parent.name or db.name})")
    else:
        text = export(cols, data, fmt)
    _write(text, output, len(data))


#: the summary columns of ``advqa results --export latex`` (a table that fits a page)
LATEX_SUMMARY_COLUMNS = ("model", "defense", "dataset", "attack", "attacker", "n", "srcc_before", "srcc_after",
                         "srcc_change", "abs_gain", "rel_gain", "robustness", "wasserstein", "energy")


@cli.command()
@click.argument("location", default="advqa-out", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for leaderboard.html (default: next to the database).")
@click.option("--title", default="advqa leaderboard", show_default=True)
@click.option("--export", "fmt", type=click.Choice(["html", "csv", "json", "latex"]), default="html",
              show_default=True, help="html writes the page; csv/json/latex print the models x attacks table.")
@click.option("--score", type=click.Choice(["robustness", "abs_gain", "rel_gain", "wasserstein", "energy",
                                            "srcc_after", "srcc_change"]), default="robustness", show_default=True,
              help="The score in each attack column of the exported table.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the export to a file instead of stdout.")
def leaderboard(location: str, out_dir: str | None, title: str, fmt: str, score: str, output: str | None) -> None:
    """The leaderboard of a run folder or results.sqlite: models x attacks, one card per model.

    The page (leaderboard.html) is self-contained: sortable tables (click a header), the MSU
    benchmark's scores of Antsiferova et al. (AAAI 2024) per model and attack with 95% intervals,
    and a card per model (paper, score range, clean SRCC, robustness scores).
    """
    from advqa.bench.leaderboard import build_leaderboard, export
    from advqa.bench.leaderboard import leaderboard as make_leaderboard
    from advqa.bench.leaderboard import matrix
    from advqa.bench.store import ResultStore

    db = _database(location)
    if fmt == "html":
        if output:
            raise click.BadParameter("-o is for --export csv/json/latex; the page goes to --out DIR",
                                     param_hint="-o")
        click.echo(f"leaderboard: {build_leaderboard(db, out_dir, title=title)}")
        return
    with ResultStore(db) as store:
        lb = make_leaderboard(store)
    cols, rows = matrix(lb, score)
    _write(export(cols, rows, fmt, caption=f"{title}: {score} per attack"), output, len(rows))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="advqa", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

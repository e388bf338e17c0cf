"""Typed project configuration: ``projects/<name>/config.toml``, validated on load.

Overrides use dotted keys (``--set models.lightgbm.params.learning_rate=0.05``); the
value is parsed as a TOML literal and the whole config is validated again, so a wrong
type or an unknown key fails with one line before anything runs.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kagglekit.errors import KKError, did_you_mean
from kagglekit.metrics import get_metric
from kagglekit.tasks import get_task

Task = Literal["binary", "multiclass", "regression", "ranking"]
CVKind = Literal[
    "kfold",
    "stratified",
    "group",
    "stratified_group",
    "matched_group",
    "timeseries",
    "holdout",
    "user_holdout",
    "user_kfold",
    "user_last",
]
# One validation split, the other rows all train (interaction splits: kagglekit.recsys.splits).
SINGLE_SPLIT_KINDS = ("holdout", "user_holdout", "user_last")
SubmissionFormat = Literal["labels", "probabilities", "values", "ranked_list"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSourceConfig(_Strict):
    """Where ``kk fetch`` gets the competition files from.

    ``kind="kaggle"`` downloads with the official client (a local mirror is used instead
    when ``--from`` or ``KK_DATA_MIRROR`` is given); ``mirror_folder`` names the folder
    inside a mirror that holds this competition's files. ``kind="url"`` needs ``url`` and
    its ``sha256``; ``kind="torchvision"`` names the ``dataset`` (e.g. ``"CIFAR10"``).
    A Kaggle dataset instead of a competition: ``competition.slug = "owner/name"``.
    ``kind="mirror"`` reads local files only: from ``path`` when set (a local
    competition's own folder, e.g. what ``kk make-competition`` wrote; relative to the
    project folder), else ``--from`` or ``KK_DATA_MIRROR``.
    """

    kind: Literal["kaggle", "mirror", "url", "torchvision"] = "kaggle"
    mirror_folder: str = ""
    path: str = ""
    url: str = ""
    sha256: str = ""
    dataset: str = ""


class CompetitionConfig(_Strict):
    """What the competition is and what its files look like."""

    name: str
    slug: str = ""
    source: DataSourceConfig = DataSourceConfig()
    train_file: str = "train.csv"
    test_file: str = "test.csv"
    sample_submission_file: str = "sample_submission.csv"
    solution_file: str = ""
    id_column: str
    target_column: str
    task: Task
    metric: str
    submission_format: SubmissionFormat = "labels"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)  # strictly inside: 0 or 1 decides nothing
    # What the classes are called in plots, in the order of their encoded labels (sorted:
    # Titanic's 0, 1 are ["died", "survived"]); empty: the labels themselves. Image loaders
    # have their own (data.params.label_names), which win.
    class_names: list[str] = []

    @model_validator(mode="after")
    def _check_metric(self) -> CompetitionConfig:
        metric = get_metric(self.metric)
        if self.task not in metric.tasks:
            raise KKError(
                f"metric '{self.metric}' does not fit task '{self.task}'; "
                f"it is for {', '.join(metric.tasks)} tasks"
            )
        if metric.needs == "probabilities" and self.submission_format == "labels":
            # Kaggle would score hard labels as probabilities of 0 and 1: a silent disaster.
            raise KKError(
                f"metric '{self.metric}' scores probabilities but submission_format is "
                '"labels"; set submission_format = "probabilities"'
            )
        get_task(self.task).check_format(self.submission_format)
        return self


class CVConfig(_Strict):
    """The cross-validation scheme; folds are assigned once from it by ``kk folds``."""

    kind: CVKind = "stratified"
    n_splits: int = Field(5, ge=2, le=100)
    n_repeats: int = Field(1, ge=1, le=50)
    seed: int = 42
    group_column: str = ""
    order_column: str = ""
    # cv.kind = "holdout": one split, this share of the rows validated (stratified for
    # classification); n_splits is unused.
    valid_size: float = Field(0.2, gt=0.0, lt=1.0)
    # cv.kind = "user_last": each user's n_last most recent rows are validated.
    n_last: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check_groups(self) -> CVConfig:
        if self.kind.startswith("user_") and not self.group_column:
            raise KKError(
                f"cv.kind '{self.kind}' needs cv.group_column (the user column); set it in config.toml"
            )
        if self.kind == "user_last" and not self.order_column:
            raise KKError(
                "cv.kind 'user_last' needs cv.order_column (the timestamp column); set it in config.toml"
            )
        if self.kind in ("group", "stratified_group", "matched_group") and not self.group_column:
            raise KKError(f"cv.kind '{self.kind}' needs cv.group_column; set it in config.toml")
        if self.kind == "timeseries" and self.n_repeats != 1:
            raise KKError("cv.kind 'timeseries' cannot be repeated; set cv.n_repeats = 1")
        return self


class DataConfig(_Strict):
    """Which data loader reads the competition files (``kagglekit.loaders``).

    ``loader = "csv"`` (the default) reads ``competition.train_file`` / ``test_file`` /
    ``sample_submission_file`` as tables; image, text and interaction loaders (``idx``,
    ``pixels_csv``, ``image_folder``, ``cifar_batches``, ...) take their file names and
    options from ``params``. A project may register a loader of its own in features.py
    with ``kagglekit.loaders.register_loader``.
    """

    loader: str = "csv"
    params: dict[str, Any] = {}


class StepConfig(_Strict):
    """A feature step fitted inside each fold (``kmeans``, ``pca``, or a project's own)."""

    kind: str
    params: dict[str, Any] = {}


class FeaturesConfig(_Strict):
    """Project features plus the package's leakage-safe encoders."""

    function: str = ""
    drop: list[str] = []
    categorical: list[str] | Literal["auto"] = "auto"
    target_encode: list[str] = []
    count_encode: list[str] = []
    steps: list[StepConfig] = []
    # auto: per fold, dates -> year/month/day/dayofweek and categoricals with more than
    # high_cardinality distinct values -> target + count encoding (features.AutoFeatures).
    auto: bool = False
    high_cardinality: int = Field(30, ge=2)


Scalar = bool | int | float | str


class SearchRange(_Strict):
    """A tuning range: ints when both ends are ints, floats otherwise; ``log`` for scales."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))

    @model_validator(mode="after")
    def _check(self) -> SearchRange:
        if self.low >= self.high:
            raise KKError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise KKError(f"log = true needs low > 0 (got low = {self.low})")
        if self.log and self.step is not None:
            raise KKError("give either log = true or step, not both")
        if self.step is not None and self.step <= 0:
            raise KKError(f"step must be positive (got {self.step})")
        return self


class SearchChoices(_Strict):
    """A tuning choice among values (``None`` is allowed in the package defaults)."""

    choices: list[Scalar | None] = Field(min_length=1)


SearchParam = SearchRange | SearchChoices | Scalar


def parse_search_param(where: str, raw: Any) -> SearchParam:
    """One ``[models.<name>.search]`` value: a range table, a choices table or a fixed value."""
    if isinstance(raw, SearchRange | SearchChoices | bool | int | float | str):
        return raw
    hint = "write { low = 1, high = 10 [, log = true, step = 1] }, { choices = [...] } or a fixed value"
    if not isinstance(raw, dict):
        raise KKError(f"{where} = {raw!r} is not a search range; {hint}")
    try:
        if "choices" in raw:
            return SearchChoices.model_validate(raw)
        for bad in ("low", "high"):
            if isinstance(raw.get(bad), bool) or not isinstance(raw.get(bad), int | float):
                raise KKError(f"'{bad}' must be a number")
        return SearchRange.model_validate(raw)
    except KKError as err:
        raise KKError(f"{where} = {raw!r} is invalid: {err}; {hint}") from None
    except ValidationError as err:
        first = err.errors()[0]
        ctx_err = (first.get("ctx") or {}).get("error")
        msg = str(ctx_err) if isinstance(ctx_err, KKError) else first["msg"]
        raise KKError(f"{where} = {raw!r} is invalid: {msg}; {hint}") from None


class PseudoLabelConfig(_Strict):
    """Pseudo-labels from an earlier run on the same folds (``kagglekit.training.pseudo``): fold k
    also trains on the test rows that run's fold-k model labelled with at least
    ``confidence`` (P of the label it gives; 0.5 < confidence < 1)."""

    run: str = Field(min_length=1)
    confidence: float = Field(0.9, gt=0.5, lt=1.0)


class ModelConfig(_Strict):
    """A named model entry: a backend from the registry and its parameters.

    ``search`` overrides the backend's default tuning space (``Backend.default_space``,
    ``kagglekit.tuning.spaces``); ``params_file`` names a params file written by
    ``kk tune --write-params`` (relative to the project folder) whose values are laid
    over ``params``. Boosters stop early on each
    fold's validation rows (``early_stopping_rounds``; 0 trains all rounds), which picks the
    round count with the labels the fold is scored on and flatters CV a little;
    ``early_stopping_holdout = 0.1`` stops on that share of the fold's training rows instead,
    so the validation fold is never seen while fitting. Torch models (and NeuMF) keep their
    best epoch and count ``patience`` on the same held-out rows when it is set; a backend
    that chooses no rounds or epochs refuses it. ``pseudo_labels`` adds confidently
    labelled test rows to each fold's training rows (``PseudoLabelConfig``).
    """

    backend: str
    params: dict[str, Any] = {}
    seed: int = 42
    early_stopping_rounds: int = Field(100, ge=0)
    early_stopping_holdout: float = Field(0.0, ge=0.0, le=0.5)
    steps: list[StepConfig] = []
    search: dict[str, SearchParam] = {}
    params_file: str = ""
    pseudo_labels: PseudoLabelConfig | None = None


class ParamsFile(_Strict):
    """A params file written by ``kk tune --write-params``: where the values came from."""

    model: str
    backend: str
    params: dict[str, Any]
    study: str = ""
    trial: int | None = None
    value: float | None = None
    metric: str = ""
    fold_hash: str = ""


class ProjectConfig(_Strict):
    """The whole ``config.toml`` of one project."""

    default_model: str
    competition: CompetitionConfig
    data: DataConfig = DataConfig()
    cv: CVConfig = CVConfig()
    features: FeaturesConfig = FeaturesConfig()
    models: dict[str, ModelConfig]

    @model_validator(mode="before")
    @classmethod
    def _parse_search(cls, data: Any) -> Any:
        # Parsed here, where the model's name is known, so the error names the whole key.
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            return data
        parsed = {}
        for name, entry in models.items():
            search = entry.get("search") if isinstance(entry, dict) else None
            if isinstance(search, dict):
                entry = {
                    **entry,
                    "search": {
                        key: parse_search_param(f"models.{name}.search.{key}", raw)
                        for key, raw in search.items()
                    },
                }
            parsed[name] = entry
        return {**data, "models": parsed}

    @model_validator(mode="after")
    def _check_models(self) -> ProjectConfig:
        # Backend names are checked when a model is built (training.model_factory), after
        # the project's own files have been imported and could register a backend.
        if not self.models:
            raise KKError("config has no [models.<name>] entry; add at least one")
        for name, entry in self.models.items():
            if entry.early_stopping_holdout > 0 and entry.early_stopping_rounds == 0:
                raise KKError(
                    f"models.{name}.early_stopping_holdout = {entry.early_stopping_holdout} "
                    "needs early stopping; for a booster set early_stopping_rounds above 0 "
                    "(e.g. 100), for a torch model remove early_stopping_rounds (it chooses "
                    "epochs by itself), or drop the holdout"
                )
        if self.default_model not in self.models:
            hint = did_you_mean(self.default_model, self.models)
            raise KKError(
                f"default_model '{self.default_model}' is not a [models.<name>] entry;{hint} "
                f"Known: {', '.join(sorted(self.models))}"
            )
        return self

    def model(self, name: str | None) -> tuple[str, ModelConfig]:
        """Return ``(name, entry)`` for ``name`` or the default model."""
        name = name or self.default_model
        if name not in self.models:
            hint = did_you_mean(name, self.models)
            raise KKError(
                f"model '{name}' is not configured;{hint} Known: {', '.join(sorted(self.models))}"
            )
        return name, self.models[name]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=VALUE`` into a key path and a TOML-typed value.

    ``0.05`` is a float, ``10`` an int, ``true`` a bool, ``[1, 2]`` a list, and anything
    that is not a TOML literal is kept as a string.
    """
    if "=" not in item:
        raise KKError(f"--set '{item}' is not KEY=VALUE; write e.g. --set cv.n_splits=10")
    key, raw = item.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise KKError(f"--set '{item}' has an empty key; write e.g. --set cv.n_splits=10")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def _apply_override(data: dict[str, Any], path: list[str], value: Any, item: str) -> None:
    node = data
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            # Free-form tables (model params) may gain keys; so may schema tables left at
            # their defaults (no [cv] in the file); unknown tables may not.
            fields = _fields_at(tuple(path[:depth]))
            if _is_free_form(path[: depth + 1]) or part in fields:
                child = node[part] = {}
            else:
                raise KKError(
                    f"--set '{item}': key '{'.'.join(path[: depth + 1])}' is not in the config;"
                    f"{did_you_mean(part, [*node, *fields])}"
                )
        if not isinstance(child, dict):
            raise KKError(f"--set '{item}': '{'.'.join(path[: depth + 1])}' is not a table")
        node = child
    node[path[-1]] = value


def _is_free_form(path: list[str]) -> bool:
    return (
        (len(path) == 3 and path[0] == "models" and path[2] in ("params", "search"))
        or (len(path) == 2 and path[0] == "models")
        or (len(path) == 2 and path[:2] == ["data", "params"])
    )


def _format_validation_error(err: ValidationError, source: str) -> KKError:
    errors = err.errors()
    # A misspelt key is both "not a config key" and, for the key meant, "required": name
    # the misspelling (`defualt_model`), which is the user's actual mistake.
    extras = [e for e in errors if e["type"] == "extra_forbidden"]
    first = extras[0] if extras else errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(str(first["loc"][-1]), _fields_at(first["loc"][:-1]))
        return KKError(
            f"{source}: key '{loc}' is not a config key;{hint} remove it or fix its spelling"
        )
    if first["type"] == "missing":
        return KKError(f"{source}: key '{loc}' is required; add it to config.toml")
    got = first.get("input")
    return KKError(f"{source}: '{loc}' = {got!r} is invalid: {first['msg']}")


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields of the config table at ``loc`` (for did-you-mean hints)."""
    model: Any = ProjectConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            if model is ModelConfig or part in ("models",):
                model = ModelConfig
                continue
            return []
        annotation = field.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
        if part == "models":
            model = ModelConfig
    return list(getattr(model, "model_fields", {}))


def validate_config(data: dict[str, Any], *, source: str = "config") -> ProjectConfig:
    """Validate a raw config dict; raise a one-line ``KKError`` on the first problem."""
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as err:
        # A KKError raised inside a validator arrives wrapped; surface it as it was.
        for detail in err.errors():
            ctx_err = (detail.get("ctx") or {}).get("error")
            if isinstance(ctx_err, KKError):
                raise KKError(f"{source}: {ctx_err}") from None
        raise _format_validation_error(err, source) from None


def read_params_file(path: Path) -> ParamsFile:
    """Read and validate a params file written by ``kk tune --write-params``."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KKError(
            f"params file {path} does not exist; write it with kk tune PROJECT --model NAME "
            "--write-params, or remove params_file from config.toml"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise KKError(f"params file {path} is not valid TOML: {err}") from None
    try:
        return ParamsFile.model_validate(raw)
    except ValidationError as err:
        raise _format_validation_error(err, str(path)) from None


def _merge_params_files(data: dict[str, Any], base: Path, set_keys: set[tuple[str, ...]]) -> None:
    """Lay each model's ``params_file`` over its ``params`` (``--set`` values still win)."""
    models = data.get("models")
    if not isinstance(models, dict):
        return
    for name, entry in models.items():
        if not isinstance(entry, dict) or not entry.get("params_file"):
            continue
        pf = read_params_file(base / str(entry["params_file"]))
        if pf.backend != entry.get("backend"):
            raise KKError(
                f"models.{name}.params_file {entry['params_file']} was written for backend "
                f"'{pf.backend}', not '{entry.get('backend')}'; write it again for this model"
            )
        params = dict(entry.get("params") or {})
        for key, value in pf.params.items():
            if ("models", name, "params", key) not in set_keys:
                params[key] = value
        entry["params"] = params


def load_config(path: Path, overrides: list[str] | None = None) -> ProjectConfig:
    """Load, override and validate ``config.toml``.

    Examples
    --------
    >>> cfg = load_config(Path("projects/titanic/config.toml"), ["cv.n_splits=10"])  # doctest: +SKIP
    """
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KKError(
            f"config file {path} does not exist; create it (see projects/titanic)"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise KKError(f"{path} is not valid TOML: {err}") from None
    data = copy.deepcopy(raw)
    set_keys: set[tuple[str, ...]] = set()
    for item in overrides or []:
        key_path, value = parse_override(item)
        _apply_override(data, key_path, value, item)
        set_keys.add(tuple(key_path))
    _merge_params_files(data, Path(path).parent, set_keys)
    source = str(path) if not overrides else f"{path} with --set"
    return validate_config(data, source=source)

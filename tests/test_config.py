"""Typed config: validated on load, dotted --set overrides typed as TOML, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kagglekit.config import load_config, parse_override
from kagglekit.errors import KKError
from kagglekit.testing import tiny_config


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(tiny_config("tiny"))
    return path


@pytest.mark.parametrize(
    ("item", "path", "value"),
    [
        ("cv.n_splits=10", ["cv", "n_splits"], 10),
        (
            "models.lightgbm.params.learning_rate=0.05",
            ["models", "lightgbm", "params", "learning_rate"],
            0.05,
        ),
        ("a.b=true", ["a", "b"], True),
        ("a=[1, 2]", ["a"], [1, 2]),
        ('a="x=y"', ["a"], "x=y"),
        ("competition.metric=roc_auc", ["competition", "metric"], "roc_auc"),  # bare word -> string
    ],
)
def test_parse_override(item: str, path: list[str], value: object) -> None:
    assert parse_override(item) == (path, value)


def test_parse_override_errors() -> None:
    with pytest.raises(KKError, match=r"is not KEY=VALUE"):
        parse_override("cv.n_splits")
    with pytest.raises(KKError, match=r"has an empty key"):
        parse_override("=3")


def test_load_and_override(config_path: Path) -> None:
    cfg = load_config(config_path)
    assert cfg.cv.n_splits == 3 and cfg.competition.task == "binary"
    assert (
        cfg.model(None)[0] == "lightgbm" and cfg.model("linear")[1].backend == "logistic_regression"
    )
    cfg = load_config(
        config_path,
        [
            "cv.n_splits=4",
            "models.lightgbm.params.num_leaves=15",
            "models.linear.params.C=0.5",  # a params table the file does not have
            'features.drop=["x2"]',  # a table the file leaves at its defaults
            "models.extra.backend=knn",  # a whole new model entry
        ],
    )
    assert cfg.cv.n_splits == 4 and cfg.models["lightgbm"].params["num_leaves"] == 15
    assert cfg.models["linear"].params == {"C": 0.5} and cfg.features.drop == ["x2"]
    assert cfg.models["extra"].backend == "knn"
    with pytest.raises(Exception, match=r"frozen"):
        cfg.cv.n_splits = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (["cv.n_split=3"], ["key 'cv.n_split' is not a config key", "did you mean 'n_splits'"]),
        (["cvv.n_splits=3"], ["key 'cvv' is not in the config", "did you mean 'cv'"]),
        (["cv.n_splits=abc"], ["'cv.n_splits' = 'abc' is invalid"]),
        (["cv.n_splits=1"], ["'cv.n_splits' = 1 is invalid"]),
        (["competition.threshold=2.0"], ["'competition.threshold' = 2.0"]),
        (
            ["competition.metric=acuracy"],
            ["metric 'acuracy' is not known", "did you mean 'accuracy'"],
        ),
        (["competition.metric=rmse"], ["metric 'rmse' does not fit task 'binary'"]),
        (["competition.submission_format=values"], ["'values' does not fit a binary task"]),
        (["cv.kind=group"], ["needs cv.group_column"]),
        (["default_model=lgbm"], ["default_model 'lgbm'", "did you mean 'lightgbm'"]),
        (["cv.n_splits.x=1"], ["'cv.n_splits' is not a table"]),
        (
            ["models.lightgbm.early_stopping_holdout=0.8"],
            ["'models.lightgbm.early_stopping_holdout' = 0.8 is invalid", "0.5"],
        ),
        (
            [
                "models.lightgbm.early_stopping_holdout=0.2",
                "models.lightgbm.early_stopping_rounds=0",
            ],
            ["models.lightgbm.early_stopping_holdout = 0.2 needs early stopping"],
        ),
    ],
)
def test_bad_overrides_are_one_line(
    config_path: Path, overrides: list[str], needles: list[str]
) -> None:
    with pytest.raises(KKError) as err:
        load_config(config_path, overrides)
    message = str(err.value)
    assert "\n" not in message and message.startswith((str(config_path), "--set"))
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (
            "seed = 7",
            "seed = 7\nn_split = 3",
            "key 'cv.n_split' is not a config key; did you mean 'n_splits'?",
        ),
        (
            'backend = "lightgbm"',
            'backend = "lightgbm"\nparms = {}',
            "key 'models.lightgbm.parms' is not a config key; did you mean 'params'?",
        ),
        ('id_column = "id"', "", "key 'competition.id_column' is required"),
        ("n_splits = 3", 'n_splits = "3x"', "'cv.n_splits' = '3x' is invalid"),
        ("[cv]", "[cv", "is not valid TOML"),
    ],
)
def test_bad_config_files_are_one_line(config_path: Path, old: str, new: str, needle: str) -> None:
    config_path.write_text(config_path.read_text().replace(old, new, 1))
    with pytest.raises(KKError) as err:
        load_config(config_path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(KKError, match=r"config file .* does not exist"):
        load_config(tmp_path / "nope.toml")


def test_unknown_model_name(config_path: Path) -> None:
    with pytest.raises(
        KKError,
        match=r"model 'lgbm' is not configured; did you mean 'lightgbm'\? Known: lightgbm, linear",
    ):
        load_config(config_path).model("lgbm")


def test_messages_cut_lists_with_an_ellipsis_and_match_case_insensitively() -> None:
    import numpy as np

    from kagglekit.errors import did_you_mean, plain, short_list, unknown_name

    assert short_list(["a", "b", "c"], 5) == "a, b, c"
    assert short_list([f"c{i}" for i in range(12)], 3) == "c0, c1, c2, ... (12 in all)"
    assert did_you_mean("Target", ["id", "target", "x"]) == " did you mean 'target'?"
    assert (
        did_you_mean("PASSENGERID", ["PassengerId", "Survived"]) == " did you mean 'PassengerId'?"
    )
    assert plain(np.int64(5)) == 5 and repr(plain(np.int64(5))) == "5"
    assert short_list([np.int64(5), np.float64(0.5)]) == "5, 0.5"
    many = unknown_name("column", "zz", [f"col{i}" for i in range(40)])
    assert str(many).endswith("... (40 in all)")


def test_a_misspelt_top_level_key_is_named_not_reported_as_missing(config_path: Path) -> None:
    """`defualt_model` used to read "key 'default_model' is required"."""
    text = config_path.read_text().replace("default_model =", "defualt_model =", 1)
    config_path.write_text(text)
    with pytest.raises(KKError) as err:
        load_config(config_path)
    message = str(err.value)
    assert "'defualt_model' is not a config key" in message
    assert "did you mean 'default_model'" in message and "\n" not in message

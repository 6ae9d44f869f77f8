import pytest

from dltour import DltourError
from dltour.config import apply_overrides, parse_set, resolve_config
from dltour.registry import get_study


def test_parse_set_types():
    assert parse_set(["a=1", "b=0.5", "c=[1, 2]", "d=true", "e=hello", "f.g=x=y"]) == {
        "a": 1, "b": 0.5, "c": [1, 2], "d": True, "e": "hello", "f.g": "x=y"}


def test_parse_set_requires_equals():
    with pytest.raises(DltourError, match="key=value"):
        parse_set(["epochs"])


def test_profile_then_user_overrides():
    study = get_study("airline-lstm")
    cfg = resolve_config(study, "demo", {"epochs": 7, "data.path": "/tmp/x.csv"})
    demo = study.profiles["demo"]
    assert demo["batch_size"] != study.Config().batch_size  # the profile does change it
    assert cfg.epochs == 7 and cfg.batch_size == demo["batch_size"] and cfg.data.path == "/tmp/x.csv"
    assert resolve_config(study, "full").batch_size == 1


def test_unknown_key_names_close_match():
    study = get_study("airline-lstm")
    with pytest.raises(DltourError, match="did you mean epochs"):
        resolve_config(study, "demo", {"epoch": 3})


def test_wrong_type_names_key():
    study = get_study("airline-lstm")
    with pytest.raises(DltourError, match="for epochs"):
        resolve_config(study, "demo", {"epochs": "many"})
    with pytest.raises(DltourError, match="lr"):
        resolve_config(study, "demo", {"lr": -1})


def test_unknown_profile():
    with pytest.raises(DltourError, match="did you mean demo"):
        resolve_config(get_study("airline-lstm"), "dmeo")


def test_study_lookup_by_task_id_and_error():
    assert get_study("T2.1").name == "airline-lstm"
    assert get_study("t2.1").name == "airline-lstm"
    with pytest.raises(DltourError, match="Did you mean airline-lstm"):
        get_study("airline-lstn")


def test_apply_overrides_returns_copy():
    study = get_study("airline-lstm")
    base = resolve_config(study, "demo")
    new = apply_overrides(base, {"epochs": 3})
    assert base.epochs == study.profiles["demo"].get("epochs", study.Config().epochs) != 3 and new.epochs == 3


def test_a_renamed_key_names_its_new_name():
    from dltour.config import suggest_keys

    keys = ["data.path", "data.source", "data.train_subset", "data.test_subset", "data.corpus", "epochs"]
    assert suggest_keys("data_source", keys)[0] == "data.source"
    assert suggest_keys("train_limit", keys) == ["data.train_subset"]
    assert suggest_keys("test_limit", keys) == ["data.test_subset"]
    assert suggest_keys("corpus", keys) == ["data.corpus"]
    assert suggest_keys("zzz", keys) == []


# ------------------------------------------------------------------------------------ --config FILE
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_file_toml_nested_dotted_and_study_table(tmp_path):
    from dltour.config import config_file_overrides

    study = get_study("airline-lstm")
    path = _write(tmp_path, "c.toml", 'epochs = 5\n"data.source" = "embedded"\n[data]\npath = "/tmp/a.csv"\n'
                                      '[airline-lstm]\nbatch_size = 4\n["T3.1"]\nnot_a_key_here = 1\n')
    assert config_file_overrides(path, study) == {"epochs": 5, "data.source": "embedded", "data.path": "/tmp/a.csv",
                                                  "batch_size": 4}  # T3.1's table is another study's: ignored


def test_config_file_yaml_study_table_by_task_id_wins_over_shared_keys(tmp_path):
    from dltour.config import config_file_overrides

    path = _write(tmp_path, "c.yaml", "epochs: 5\nT2.1:\n  epochs: 7\n  data: {path: /tmp/b.csv}\n")
    assert config_file_overrides(path, get_study("airline-lstm")) == {"epochs": 7, "data.path": "/tmp/b.csv"}


@pytest.mark.parametrize("name, text, needle", [
    ("c.toml", "epoch = 5\n", "unknown config key 'epoch' for airline-lstm in --config"),
    ("c.toml", "epochs = \n", "not valid TOML"),
    ("c.yaml", "epochs: [1\n", "not valid YAML"),
    ("c.yaml", "- 1\n- 2\n", "expected a mapping"),
    ("c.yaml", "airline-lstm: 3\n", "must be a table"),
])
def test_config_file_errors_are_one_line_and_name_the_file(tmp_path, name, text, needle):
    from dltour.config import config_file_overrides

    path = _write(tmp_path, name, text)
    with pytest.raises(DltourError) as info:
        config_file_overrides(path, get_study("airline-lstm"))
    assert needle in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_config_file_missing(tmp_path):
    from dltour.config import config_file_overrides

    with pytest.raises(DltourError, match="no such file"):
        config_file_overrides(tmp_path / "nope.toml", get_study("airline-lstm"))


def test_resolve_config_names_its_origin():
    with pytest.raises(DltourError, match="in --config c.toml"):
        resolve_config(get_study("airline-lstm"), "demo", {"epochs": "lots"}, origin="--config c.toml")


def test_show_names_a_constrained_list_by_its_item_type():
    """``dltour show`` prints ``list[int]`` for a list of bounded ints (the bounds are in the field's
    docstring and in the error a bad value gets), not pydantic's metadata."""
    from typing import Annotated, Literal

    from annotated_types import Ge, Le
    from pydantic import Field

    from dltour.config import _type_name

    assert _type_name(list[Annotated[int, Ge(1), Le(8)]]) == "list[int]"
    assert _type_name(list[Annotated[int, Field(ge=1, le=24)]]) == "list[int]"
    assert _type_name(list[Literal["a", "b"]]) == "list[Literal['a', 'b']]"
    assert _type_name(int) == "int"

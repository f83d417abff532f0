"""Configuration validation: every error names the field it is about."""

import pytest

from sync.config import ConfigError, load_config_file, parse_config
from tests.support.harness import config_document


def test_valid_document_parses():
    config = parse_config(config_document())
    scenario = config.scenario("demo")
    assert scenario.enabled_directions() == ["left_to_right", "right_to_left"]
    assert config.rules(scenario)[1].transform.to_right("open", None) == "Active"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["scenarios"][0].update(left="nope"), "scenarios.0.left: unknown connection 'nope'"),
        (lambda d: d["scenarios"][0].update(field_map="x"), "scenarios.0.field_map: unknown field map 'x'"),
        (
            lambda d: d["scenarios"][0]["directions"]["left_to_right"].update(schedule="every minute"),
            "scenarios.0.directions.left_to_right.schedule",
        ),
        (lambda d: d["connections"]["mem-left"].update(url="ftp://x"), "connections.mem-left.url"),
        (
            lambda d: d["connections"]["mem-left"].update(auth={"kind": "pat"}),
            "connections.mem-left.auth: Value error",
        ),
        (
            lambda d: d["field_maps"]["default"].append({"left": "a"}),
            "field_maps.default.4.right: Field required",
        ),
        (
            lambda d: d["field_maps"]["default"].append(
                {"left": "a", "right": "b", "transform": {"nope": {}}}
            ),
            "unknown transform 'nope'",
        ),
        (
            lambda d: d["scenarios"][0].update(colour="red"),
            "scenarios.0.colour: Extra inputs are not permitted",
        ),
        (
            lambda d: d["scenarios"].append(dict(d["scenarios"][0])),
            "scenarios.1.name: duplicate scenario name",
        ),
    ],
)
def test_errors_name_the_field(mutate, expected):
    doc = config_document()
    mutate(doc)
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert expected.replace("Value error", "").split(": Value")[0] in str(err.value)


def test_secret_values_are_refused_where_names_belong():
    doc = config_document()
    doc["connections"]["mem-left"]["auth"] = {"kind": "pat"}
    with pytest.raises(ConfigError, match="name of a secret"):
        parse_config(doc)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(bad)


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ConfigError, match="configured: demo"):
        parse_config(config_document()).scenario("other")

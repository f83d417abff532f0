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


def _pipelines_document() -> dict:
    connection = {"type": "azure_devops_pipelines", "url": "http://127.0.0.1:9/tfs/DefaultCollection"}
    document = config_document()
    document["connections"]["server-pipelines"] = {
        **connection,
        "options": {"deployment": "server", "project": "Fabrikam", "pool_map": {"Default": "Old pool"}},
    }
    document["connections"]["services-pipelines"] = {
        **connection,
        "url": "http://127.0.0.1:9/contoso",
        "options": {"deployment": "services", "project": "Fabrikam"},
    }
    document["scenarios"].append(
        {
            "name": "pipelines",
            "left": "server-pipelines",
            "right": "services-pipelines",
            "field_map": [{"left": "name", "right": "name"}],
            "connector_options": {"right": {"pool_map": {"Default": "Linux agents"}}},
            "directions": {"left_to_right": {}},
        }
    )
    return document


def test_a_scenario_gives_its_connectors_options_of_their_own():
    from sync.config import with_scenario_options

    config = parse_config(_pipelines_document())
    scenario = config.scenario("pipelines")
    right = with_scenario_options(
        config.connections["services-pipelines"], scenario.connector_options["right"]
    )
    assert right.options == {
        "deployment": "services",
        "project": "Fabrikam",
        "pool_map": {"Default": "Linux agents"},
    }
    # the connection's own options stay valid (today's configurations) and are what other scenarios see
    assert config.connections["server-pipelines"].options["pool_map"] == {"Default": "Old pool"}
    assert config.connections["services-pipelines"].options == {
        "deployment": "services",
        "project": "Fabrikam",
    }
    # the configuration as stored and exported (`tandem config export`) keeps them
    dumped = config.model_dump(mode="json", exclude_none=True)
    assert dumped["scenarios"][1]["connector_options"] == {"right": {"pool_map": {"Default": "Linux agents"}}}
    assert parse_config(dumped).scenario("pipelines").connector_options == scenario.connector_options


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"right": {"pool_maps": {}}},
            "scenarios.1.connector_options.right.pool_maps: not a per-scenario option (a scenario may set "
            "artifact_map, pool_map)",
        ),
        (
            {"right": {"project": "Other"}},
            "scenarios.1.connector_options.right.project: not a per-scenario option",
        ),
        (
            {"left": {"pool_map": {"Default": 3}}},
            "scenarios.1.connector_options.left.pool_map.Default: Input should be a valid string",
        ),
        ({"middle": {}}, "scenarios.1.connector_options.middle"),
    ],
)
def test_scenario_connector_options_are_validated_naming_the_field(options, expected):
    document = _pipelines_document()
    document["scenarios"][1]["connector_options"] = options
    with pytest.raises(ConfigError) as err:
        parse_config(document)
    assert expected in str(err.value)


def test_a_connection_type_without_per_scenario_options_refuses_them():
    document = config_document()
    document["scenarios"][0]["connector_options"] = {"left": {"page_size": 10}}
    with pytest.raises(ConfigError) as err:
        parse_config(document)
    assert (
        "scenarios.0.connector_options.left.page_size: a memory connection takes no per-scenario options"
        in str(err.value)
    )

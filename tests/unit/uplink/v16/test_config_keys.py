"""The OCPP configuration keys of the session side: defaults, validation, what they stand for."""

from __future__ import annotations

from edge_controller.config.settings import AuthorizationSettings, OcppSettings
from edge_controller.domain.commands import ChangeSessionRules
from edge_controller.uplink.v16 import config_keys


def _settings(**auth: bool | str) -> OcppSettings:
    return OcppSettings(authorization=AuthorizationSettings(**auth))


def test_defaults_come_from_the_site_config() -> None:
    values = config_keys.defaults(
        _settings(offline_authorize_from_list=False, stop_on_invalid=False),
        2,
        connection_timeout_s=90.0,
        phase_rotation="1.RST,2.NotApplicable",
    )
    assert values["LocalAuthorizeOffline"] == "false"
    assert values["StopTransactionOnInvalidId"] == "false"
    assert values["AllowOfflineTxForUnknownId"] == "false"
    assert values["LocalPreAuthorize"] == "true"
    assert values["ConnectionTimeOut"] == "90"
    assert values["StopTxnSampledData"] == "Energy.Active.Import.Register"
    assert values["ConnectorPhaseRotation"] == "1.RST,2.NotApplicable"
    assert values[config_keys.MASTER_PASS_KEY] == ""  # no master pass group configured
    # Every key with a value has a spec, and the other way round (the 2.x-only session rule
    # aside: 1.6 has no such key, GetConfiguration leaves it out).
    assert set(values) - {config_keys.MASTER_PASS_KEY} == set(config_keys.SPECS)


def test_session_rules_read_back_what_the_keys_say() -> None:
    values = config_keys.defaults(_settings(cache_enabled=False), 1, connection_timeout_s=30)
    assert config_keys.session_rules(values) == ChangeSessionRules(
        local_list_enabled=True,
        cache_enabled=False,
        local_pre_authorize=True,
        offline_authorize_from_list=True,
        allow_unknown_offline=False,
        stop_on_invalid=True,
        master_pass_group_id="",
        plug_timeout_s=30.0,
        stop_transaction_data=True,
    )
    master = config_keys.defaults(_settings(master_pass_group_id="MASTERS"), 1)
    assert config_keys.session_rules(master).master_pass_group_id == "MASTERS"
    one = config_keys.session_rules({"LocalAuthorizeOffline": "FALSE"})
    assert one == ChangeSessionRules(offline_authorize_from_list=False)
    assert config_keys.session_rules({"StopTxnSampledData": ""}).stop_transaction_data is False


def test_changes_are_checked() -> None:
    status = config_keys.change_status
    assert status("LocalAuthorizeOffline", "false") == "Accepted"
    assert status("LocalAuthorizeOffline", "no") == "Rejected"
    assert status("ConnectionTimeOut", "0") == "Rejected"
    assert status("ConnectionTimeOut", "120") == "Accepted"
    assert status("StopTxnSampledData", "") == "Accepted"
    assert status("StopTxnSampledData", "Voltage") == "Rejected"  # we cannot send it
    assert status("ConnectorPhaseRotation", "1.RST") == "Rejected"  # read-only wiring
    assert status("StopTxnAlignedData", "Energy.Active.Import.Register") == "Rejected"


def test_phase_rotation_names_each_connector() -> None:
    rotation = config_keys.phase_rotation(["L1L2L3", "L2L3L1", "L3L1L2", "L3", ""])
    assert rotation == "1.RST,2.STR,3.TRS,4.NotApplicable,5.Unknown"

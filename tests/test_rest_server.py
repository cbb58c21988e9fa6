"""The GMS test server itself behaves like GMS where an emitter can tell."""

from __future__ import annotations

import json

import requests

from tests.servers.gms import RESTLI_EXCEPTION, GmsProcess, GmsServer

RESTLI = {"X-RestLi-Protocol-Version": "2.0.0", "Content-Type": "application/json"}


def proposal(urn: str = "urn:li:dataset:(urn:li:dataPlatform:hive,db.t,PROD)", **aspect) -> dict:
    value = aspect or {"removed": False}
    return {"entityType": "dataset", "entityUrn": urn, "changeType": "UPSERT", "aspectName": "status",
            "aspect": {"value": json.dumps(value), "contentType": "application/json"}}


def test_config_payload_is_what_datahub_reads(gms_server):
    from datahub.utilities.server_config_util import RestServiceConfig

    payload = requests.get(f"{gms_server.url}/config", timeout=5).json()
    config = RestServiceConfig(raw_config=payload)
    assert config.is_no_code_enabled
    assert config.service_version == gms_server.version
    assert payload["versions"]["acryldata/datahub"]["version"] == gms_server.version
    assert requests.get(f"{gms_server.url}/health", timeout=5).status_code == 200


def test_restli_errors(gms_server):
    url = f"{gms_server.url}/aspects?action=ingestProposal"
    no_header = requests.post(url, data=json.dumps({"proposal": proposal()}), timeout=5)
    assert no_header.status_code == 400
    assert no_header.json()["exceptionClass"] == RESTLI_EXCEPTION
    assert no_header.headers["X-RestLi-Error-Response"] == "true"
    bad = proposal()
    bad["aspect"]["value"] = {"removed": False}  # an object, not a JSON string
    answer = requests.post(url, data=json.dumps({"proposal": bad}), headers=RESTLI, timeout=5)
    body = answer.json()
    assert answer.status_code == 422 and body["status"] == 422
    assert "aspect.value must be a JSON string" in body["message"] and bad["entityUrn"] in body["message"]
    assert gms_server.proposals == []


def test_token_and_validation(tmp_path):
    with GmsServer(token="tok", validate_aspects=True) as gms:
        url = f"{gms.url}/aspects?action=ingestProposalBatch"
        body = json.dumps({"proposals": [proposal()]})
        assert requests.post(url, data=body, headers=RESTLI, timeout=5).status_code == 401
        auth = {**RESTLI, "Authorization": "Bearer tok"}
        assert requests.post(url, data=body, headers=auth, timeout=5).json() == {"value": [proposal()["entityUrn"]]}
        unknown = json.dumps({"proposals": [proposal(removed=False, colour="red")]})
        answer = requests.post(url, data=unknown, headers=auth, timeout=5)
        assert answer.status_code == 422 and "colour" in answer.json()["message"]
        assert len(gms.proposals) == 1
        aspect = requests.get(
            f"{gms.url}/aspects/{requests.utils.quote(proposal()['entityUrn'], safe='')}?aspect=status&version=0",
            headers=auth, timeout=5,
        )
        assert aspect.json() == {"aspect": {"com.linkedin.common.Status": {"removed": False}}, "version": 0}


def test_faults_happen_in_order_then_stop(gms_server):
    gms_server.fail_next(1, status=429, retry_after=2)
    gms_server.fail_next(1, status=500)
    first = requests.get(f"{gms_server.url}/config", timeout=5)
    second = requests.get(f"{gms_server.url}/config", timeout=5)
    third = requests.get(f"{gms_server.url}/config", timeout=5)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert [second.status_code, third.status_code] == [500, 200]


def test_server_in_a_child_process_counts_proposals():
    with GmsProcess() as gms:
        url = f"{gms.url}/aspects?action=ingestProposalBatch"
        body = json.dumps({"proposals": [proposal(), proposal()]})
        assert requests.post(url, data=body, headers=RESTLI, timeout=5).status_code == 200
        assert gms.stats() == {"proposals": 2, "requests": 1}
        gms.reset()
        assert gms.stats()["proposals"] == 0

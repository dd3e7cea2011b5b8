from hub.kafka import client_id


def test_a_client_id_names_the_hub_its_role_and_owner() -> None:
    assert client_id("deliver", "open311-surabaya") == "lapor-hub.deliver.open311-surabaya"
    assert client_id("ingest") == "lapor-hub.ingest"

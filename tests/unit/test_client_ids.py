from hub.kafka import CLIENT_DEFAULTS, client_id


def test_a_client_id_names_the_hub_its_role_and_owner() -> None:
    assert client_id("deliver", "open311-surabaya") == "lapor-hub.deliver.open311-surabaya"
    assert client_id("ingest") == "lapor-hub.ingest"


def test_a_client_made_without_a_role_still_says_it_is_the_hubs() -> None:
    assert CLIENT_DEFAULTS["client.id"] == "lapor-hub"

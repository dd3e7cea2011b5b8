from hub.kafka import client_id, static_member_id


def test_a_client_id_names_the_hub_its_role_and_owner() -> None:
    assert client_id("deliver", "open311-surabaya") == "lapor-hub.deliver.open311-surabaya"
    assert client_id("ingest") == "lapor-hub.ingest"


def test_a_static_member_id_holds_the_process_name_and_the_topics_read() -> None:
    """Another process, or other topics read (KAFKA-12759), is another member."""
    one = static_member_id("a", ["lapor.out.x", "lapor.out.y"])
    assert one == static_member_id("a", ["lapor.out.y", "lapor.out.x"])
    assert one.startswith("a-")
    assert one != static_member_id("b", ["lapor.out.x", "lapor.out.y"])
    assert one != static_member_id("a", ["lapor.out.x"])

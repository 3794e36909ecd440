//! `schema.graphql` is the output of `tally schema`.

#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = tally::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale; regenerate it with:\n\n    cargo run -- schema > schema.graphql\n"
    );
}

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

/// Every type, field, argument, input field and enum value of Tally's schema
/// has a description (from `///`), so the playground explains itself.
#[tokio::test]
async fn everything_in_the_schema_is_described() {
    let query = r"{ __schema { types {
        name kind description
        fields { name description args { name description } }
        inputFields { name description }
        enumValues { name description }
    } } }";
    let response = tally::graphql::build_schema().execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let described =
        |value: &serde_json::Value| value.as_str().is_some_and(|d| !d.trim().is_empty());
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        let builtin =
            name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name);
        if builtin {
            continue;
        }
        // async-graphql generates the Relay `XxxConnection` types and gives
        // them no description; their fields are described.
        if !described(&ty["description"]) && !name.ends_with("Connection") {
            missing.push(name.to_owned());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = format!("{name}.{}", field["name"].as_str().unwrap());
            if !described(&field["description"]) {
                missing.push(field_name.clone());
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(&arg["description"]) {
                    missing.push(format!("{field_name}({})", arg["name"].as_str().unwrap()));
                }
            }
        }
        for list in ["inputFields", "enumValues"] {
            for item in ty[list].as_array().into_iter().flatten() {
                if !described(&item["description"]) {
                    missing.push(format!("{name}.{}", item["name"].as_str().unwrap()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "without a description: {missing:#?}");
}

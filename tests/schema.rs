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

/// Every list of the schema (a field whose type is a Relay connection) takes
/// a typed `filter` with `and`/`or`/`not` and an `orderBy` of `{field,
/// direction}` keys, besides `first`/`after`/`last`/`before`.
#[tokio::test]
async fn every_list_takes_a_filter_and_an_order() {
    let query = r"{ __schema { types {
        name
        fields { name type { name kind ofType { name kind ofType { name } } }
                 args { name type { name kind ofType { name kind ofType { name kind ofType { name } } } } } }
        inputFields { name }
    } } }";
    let response = tally::graphql::build_schema().execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let types = data["__schema"]["types"].as_array().unwrap();
    let input_fields = |name: &str| -> Vec<String> {
        types
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["inputFields"].as_array())
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| f["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // The named type under NON_NULL and LIST wrappers.
    fn named(ty: &serde_json::Value) -> Option<&str> {
        if ty.is_null() {
            return None;
        }
        ty["name"].as_str().or_else(|| named(&ty["ofType"]))
    }
    let mut lists = 0;
    let mut missing = Vec::new();
    for ty in types {
        let owner = ty["name"].as_str().unwrap();
        for field in ty["fields"].as_array().into_iter().flatten() {
            let returns = named(&field["type"]).unwrap_or_default();
            if !returns.ends_with("Connection") {
                continue;
            }
            lists += 1;
            let name = format!("{owner}.{}", field["name"].as_str().unwrap());
            let args = field["args"].as_array().unwrap();
            let arg = |wanted: &str| args.iter().find(|a| a["name"] == wanted);
            for relay in ["first", "after", "last", "before"] {
                if arg(relay).is_none() {
                    missing.push(format!("{name}({relay})"));
                }
            }
            match arg("filter").and_then(|a| named(&a["type"])) {
                Some(filter) => {
                    let fields = input_fields(filter);
                    for combinator in ["and", "or", "not"] {
                        if !fields.iter().any(|f| f == combinator) {
                            missing.push(format!("{filter}.{combinator}"));
                        }
                    }
                    // At least one condition of its own.
                    if fields.len() < 4 {
                        missing.push(format!("{filter}: no field to filter on"));
                    }
                }
                None => missing.push(format!("{name}(filter)")),
            }
            match arg("orderBy").and_then(|a| named(&a["type"])) {
                Some(order) => {
                    if input_fields(order) != ["field", "direction"] {
                        missing.push(format!("{order}: not {{field, direction}}"));
                    }
                }
                None => missing.push(format!("{name}(orderBy)")),
            }
        }
    }
    assert!(lists > 20, "only {lists} lists found");
    assert!(missing.is_empty(), "lists without: {missing:#?}");
}

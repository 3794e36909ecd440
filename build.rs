//! Embeds the playground's example operations (`playground/*.graphql`, each with
//! an optional `NAME.variables.json`) into the binary, so that adding a file is
//! all it takes to offer a new example (`docs/playground.md`).
//!
//! It writes `$OUT_DIR/playground_examples.rs`: a slice expression of
//! `Example`s, sorted by name, whose texts are `include_str!`s of the files.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // A directory makes Cargo rerun this script when anything under it changes,
    // so a new or deleted example is picked up (so is an `npm ci`, once).
    println!("cargo::rerun-if-changed=playground");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playground");
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".graphql")?;
                entry.file_type().ok()?.is_file().then(|| stem.to_owned())
            })
            .collect(),
        Err(error) => panic!("cannot read {}: {error}", dir.display()),
    };
    names.sort();
    let mut code = String::from("&[\n");
    for name in &names {
        let query = dir.join(format!("{name}.graphql"));
        let variables = dir.join(format!("{name}.variables.json"));
        let variables = if variables.is_file() {
            format!("Some(include_str!({:?}))", variables.display().to_string())
        } else {
            "None".to_owned()
        };
        let _infallible = writeln!(
            code,
            "    Example {{ name: {name:?}, query: include_str!({:?}), variables: {variables} }},",
            query.display().to_string()
        );
    }
    code.push_str("]\n");
    let out = match std::env::var("OUT_DIR") {
        Ok(dir) => Path::new(&dir).join("playground_examples.rs"),
        Err(error) => panic!("OUT_DIR: {error}"),
    };
    if let Err(error) = std::fs::write(&out, code) {
        panic!("cannot write {}: {error}", out.display());
    }
}

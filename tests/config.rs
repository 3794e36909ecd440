//! The README documents exactly the variables the code reads.

use tally::config::SETTINGS;

#[test]
fn readme_table_lists_every_setting() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `TALLY_"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let in_code: Vec<&str> = SETTINGS
        .iter()
        .map(|s| s.name.trim_start_matches("TALLY_"))
        .collect();
    assert_eq!(
        documented, in_code,
        "README's TALLY_* table must match src/config.rs SETTINGS, in order"
    );
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    for setting in SETTINGS {
        assert!(
            example.contains(setting.name),
            ".env.example lacks {}",
            setting.name
        );
    }
}

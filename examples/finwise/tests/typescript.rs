//! The committed `finwise.d.ts` is what the derive generates for the FinWise entities.

use std::path::Path;

const COMMITTED: &str = include_str!("../finwise.d.ts");

#[test]
fn committed_declarations_equal_the_generated_ones() {
    let generated = finwise::entities::typescript();
    assert!(
        generated == COMMITTED,
        "examples/finwise/finwise.d.ts is out of date; regenerate it with\n\
         \n    cargo run -p finwise -- export-types examples/finwise/finwise.d.ts\n"
    );
}

#[test]
fn export_types_writes_the_declarations() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.d.ts");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_finwise"))
        .arg("export-types")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), COMMITTED);
}

#[test]
fn export_types_names_the_path_it_cannot_write() {
    let out = Path::new("/nonexistent-directory/out.d.ts");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_finwise"))
        .arg("export-types")
        .arg(out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent-directory/out.d.ts"),
        "{stderr}"
    );
}

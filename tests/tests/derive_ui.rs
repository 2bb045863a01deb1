//! Compile-fail and compile-pass tests of `#[derive(Syncable)]` and `#[derive(SyncSchema)]`
//! (`tests/ui/schema/`): one tiny file per mistake
//! under `tests/ui/<topic>/`, its expected compiler output in the `.stderr` beside it.
//!
//! Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p sync-tests --test derive_ui`, then read every one.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/container/*.rs");
    t.compile_fail("tests/ui/field/*.rs");
    t.compile_fail("tests/ui/shape/*.rs");
    t.compile_fail("tests/ui/types/*.rs");
    t.compile_fail("tests/ui/mixed/*.rs");
    t.compile_fail("tests/ui/merge/*.rs");
    t.compile_fail("tests/ui/schema/*.rs");
    t.compile_fail("tests/ui/stream/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

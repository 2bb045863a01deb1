//! Generated code names nothing from the caller's scope: local items that shadow the names
//! it uses, and fields named like its locals, change nothing.
#![no_implicit_prelude]
#![allow(dead_code)]

extern crate std;

use ::chrono::{DateTime, Utc};
use ::serde::{Deserialize, Serialize};
use ::std::option::Option::{self, None};
use ::std::string::String;

struct Vec;
struct Value;
struct Column;
struct Result;
struct Default;
mod sync_core {}

#[derive(Serialize, Deserialize, ::sync_core::Syncable)]
pub struct Row {
    #[sync(id)]
    pub values: String,
    pub row: Option<String>,
    pub at: Option<i64>,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    use ::sync_core::Syncable;
    let row = Row {
        values: ::std::convert::From::from("v"),
        row: None,
        at: None,
        updated_at: None,
    };
    let decoded = Row::from_row(row.to_row()).unwrap();
    ::std::assert_eq!(decoded.values, "v");
}

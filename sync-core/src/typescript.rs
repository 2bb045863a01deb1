//! TypeScript declarations from the same derive: one `interface` per entity, with the field
//! names exactly as serde writes them, and the wire messages of the protocol over the app's
//! entities. A web client imports the file instead of declaring every entity by hand.
//!
//! `#[derive(Syncable)]` describes each entity ([`Syncable::typescript`]);
//! `#[derive(SyncSchema)]` on the app's payload enum gathers them, and [`declarations`]
//! writes the file:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::{SyncSchema, Syncable};
//!
//! /// A label.
//! #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
//! #[serde(rename_all = "camelCase")]
//! pub struct Tag {
//!     #[sync(id)]
//!     pub id: String,
//!     /// Shown in lists.
//!     pub name: String,
//!     pub parent_tag_id: Option<String>,
//!     #[serde(rename = "updated_at")]
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! #[derive(Debug, Clone, SyncSchema)]
//! pub enum Payload {
//!     Tag(Tag),
//! }
//!
//! let file = sync_core::typescript::declarations::<Payload>();
//! assert!(file.contains(
//!     "/** A label. */\nexport interface Tag {\n  id: string;\n  /** Shown in lists. */\n  name: string;\n  parentTagId?: string | null;\n  updated_at?: string | null;\n}"
//! ));
//! assert!(file.contains("export type EntityType = \"Tag\";"));
//! assert!(file.contains("export type SyncEntry"));
//! ```
//!
//! A field's type comes from [`TsType`], implemented for every supported column type and
//! for the common containers (`Vec`, maps, `serde_json::Value`). A `#[sync(json)]` field of
//! your own type is `unknown` until you implement [`TsType`] for it, or give its type
//! in place with `#[sync(ts = "'a' | 'b'")]`. Fields serde skips when serialising are left
//! out; an `Option` field, or one with `skip_serializing_if`, is optional (`?`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::entity::Schema;
#[cfg(doc)]
use crate::entity::Syncable;

/// A Rust type's TypeScript form, as serde_json writes it.
pub trait TsType {
    /// The type, e.g. `string`, `number[]` or `"a" | "b"`.
    fn ts_type() -> String;
}

macro_rules! ts_type {
    ($ts:literal: $($ty:ty),*) => {
        $(impl TsType for $ty {
            fn ts_type() -> String {
                $ts.to_owned()
            }
        })*
    };
}

ts_type!("string": String, str, char, Uuid, DateTime<Utc>, NaiveDate, NaiveDateTime);
ts_type!("number": i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, f32, f64);
ts_type!("boolean": bool);
ts_type!("unknown": serde_json::Value);

impl<T: TsType> TsType for Option<T> {
    fn ts_type() -> String {
        format!("{} | null", T::ts_type())
    }
}

impl<T: TsType + ?Sized> TsType for Box<T> {
    fn ts_type() -> String {
        T::ts_type()
    }
}

impl<T: TsType> TsType for Vec<T> {
    fn ts_type() -> String {
        array(T::ts_type())
    }
}

impl<T: TsType> TsType for BTreeSet<T> {
    fn ts_type() -> String {
        array(T::ts_type())
    }
}

impl<T: TsType, S> TsType for HashSet<T, S> {
    fn ts_type() -> String {
        array(T::ts_type())
    }
}

impl<K: TsType, V: TsType> TsType for BTreeMap<K, V> {
    fn ts_type() -> String {
        record(K::ts_type(), V::ts_type())
    }
}

impl<K: TsType, V: TsType, S> TsType for HashMap<K, V, S> {
    fn ts_type() -> String {
        record(K::ts_type(), V::ts_type())
    }
}

impl TsType for serde_json::Map<String, serde_json::Value> {
    fn ts_type() -> String {
        record("string".to_owned(), "unknown".to_owned())
    }
}

fn array(item: String) -> String {
    if item.contains(' ') {
        format!("({item})[]")
    } else {
        format!("{item}[]")
    }
}

fn record(key: String, value: String) -> String {
    let key = if key == "number" {
        key
    } else {
        "string".to_owned()
    };
    format!("Record<{key}, {value}>")
}

/// One property of an [`Interface`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The JSON key, as serde writes it.
    pub name: String,
    /// The TypeScript type.
    pub ty: String,
    /// Whether the key may be absent (`name?:`).
    pub optional: bool,
    /// The field's doc comment, if any.
    pub doc: Option<String>,
}

/// An entity's TypeScript interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The interface's name: the struct's name.
    pub name: String,
    /// The entity's wire name (`entityType`).
    pub entity: String,
    /// The struct's doc comment, if any.
    pub doc: Option<String>,
    /// The properties, in field order.
    pub properties: Vec<Property>,
}

impl Interface {
    /// The interface as TypeScript.
    pub fn render(&self) -> String {
        let mut out = String::new();
        doc(&mut out, "", self.doc.as_deref());
        let _ = writeln!(out, "export interface {} {{", self.name);
        if self.properties.is_empty() {
            out.push_str("  [key: string]: unknown;\n");
        }
        for property in &self.properties {
            doc(&mut out, "  ", property.doc.as_deref());
            let optional = if property.optional { "?" } else { "" };
            let _ = writeln!(out, "  {}{optional}: {};", key(&property.name), property.ty);
        }
        out.push('}');
        out
    }
}

/// Writes a doc comment as TSDoc, one line per line.
fn doc(out: &mut String, indent: &str, doc: Option<&str>) {
    let Some(doc) = doc.map(str::trim).filter(|doc| !doc.is_empty()) else {
        return;
    };
    let doc = doc.replace("*/", "*\\/");
    let lines: Vec<&str> = doc.lines().map(str::trim).collect();
    if let [line] = lines.as_slice() {
        let _ = writeln!(out, "{indent}/** {line} */");
    } else {
        let _ = writeln!(out, "{indent}/**");
        for line in lines {
            let _ = writeln!(out, "{indent} * {line}");
        }
        let _ = writeln!(out, "{indent} */");
    }
}

/// A property key, quoted unless it is a plain identifier.
fn key(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The whole `.d.ts` of the app whose payload enum is `S`: every entity's interface, the
/// `EntityType` union, the `Entities` map from wire name to interface, and the wire
/// messages of the protocol typed over them.
pub fn declarations<S: Schema>() -> String {
    let interfaces = S::typescript();
    let mut out = String::from(
        "// Generated by sync-core from the app's #[derive(Syncable)] entities. Do not edit.\n\n",
    );
    for interface in &interfaces {
        out.push_str(&interface.render());
        out.push_str("\n\n");
    }
    let names: Vec<String> = interfaces
        .iter()
        .map(|interface| format!("{:?}", interface.entity))
        .collect();
    let names = if names.is_empty() {
        "never".to_owned()
    } else {
        names.join(" | ")
    };
    let _ = writeln!(out, "/** Every entity's wire name (`entityType`). */");
    let _ = writeln!(out, "export type EntityType = {names};\n");
    let _ = writeln!(out, "/** Each entity's interface, by wire name. */");
    let _ = writeln!(out, "export interface Entities {{");
    for interface in &interfaces {
        let _ = writeln!(out, "  {}: {};", key(&interface.entity), interface.name);
    }
    out.push_str("}\n\n");
    out.push_str(PROTOCOL);
    out
}

/// The wire messages, typed over `EntityType` and `Entities`.
const PROTOCOL: &str = include_str!("typescript/protocol.d.ts");

/// Probes a type for [`TsType`] without requiring it: what the derive uses for a field's
/// type, so a `#[sync(json)]` field of a type without [`TsType`] is `unknown` rather than
/// an error. Not a public API.
#[doc(hidden)]
pub struct Probe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    /// A probe of `T`.
    pub fn new() -> Probe<T> {
        Probe(PhantomData)
    }
}

impl<T: ?Sized> Default for Probe<T> {
    fn default() -> Probe<T> {
        Probe::new()
    }
}

/// The probe's answer when `T: TsType`. Not a public API.
#[doc(hidden)]
pub trait ViaTsType {
    /// `T::ts_type()`.
    fn ts_type(&self) -> String;
}

impl<T: TsType + ?Sized> ViaTsType for Probe<T> {
    fn ts_type(&self) -> String {
        T::ts_type()
    }
}

/// The probe's answer otherwise: `unknown`. Not a public API.
#[doc(hidden)]
pub trait Unknown {
    /// `unknown`.
    fn ts_type(&self) -> String;
}

impl<T: ?Sized> Unknown for &Probe<T> {
    fn ts_type(&self) -> String {
        "unknown".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    #[test]
    fn containers_and_options() {
        assert_eq!(<Vec<Option<String>>>::ts_type(), "(string | null)[]");
        assert_eq!(<Option<Vec<i32>>>::ts_type(), "number[] | null");
        assert_eq!(<BTreeMap<String, f64>>::ts_type(), "Record<string, number>");
        assert_eq!(<HashMap<Uuid, bool>>::ts_type(), "Record<string, boolean>");
        assert_eq!(<DateTime<Utc>>::ts_type(), "string");
    }

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "the borrow is how the probe chooses"
    )]
    fn the_probe_falls_back_to_unknown() {
        assert_eq!((&Probe::<Vec<u8>>::new()).ts_type(), "number[]");
        assert_eq!((&Probe::<Opaque>::new()).ts_type(), "unknown");
    }

    #[test]
    fn interfaces_quote_odd_keys_and_escape_docs() {
        let interface = Interface {
            name: "Odd".into(),
            entity: "Odd".into(),
            doc: Some("Two\nlines */".into()),
            properties: vec![Property {
                name: "SORT-ORDER".into(),
                ty: "number".into(),
                optional: true,
                doc: None,
            }],
        };
        assert_eq!(
            interface.render(),
            "/**\n * Two\n * lines *\\/\n */\nexport interface Odd {\n  \"SORT-ORDER\"?: number;\n}"
        );
    }
}

//! `#[sync(...)]` on the struct: `entity`, `table`, `collection`, `crate` and `merge`.

use proc_macro2::Span;
use syn::{Attribute, LitStr, Path};

use super::{Place, Seen, sync_items};
use crate::ctxt::Ctxt;

/// The attributes valid on the struct.
pub(crate) const STRUCT: Place = Place {
    kind: "struct",
    put: "on the struct",
    forms: &[
        "entity = \"...\"",
        "table = \"...\"",
        "collection = \"...\"",
        "crate = \"...\"",
        "merge = \"...\"",
        "stream(name = \"...\", by = field, filter = path, role = \"...\")",
    ],
};

/// The struct's merge policy: `merge = "row"` or `merge = "field"`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowMerge {
    /// Whole-row last-write-wins, the default.
    Row,
    /// Last-write-wins per field.
    Field,
}

/// The struct's `#[sync(...)]` attributes; `None` where not given (or given wrongly, which
/// is reported).
#[derive(Default)]
pub(crate) struct Container {
    /// `entity = "..."`: the wire name.
    pub(crate) entity: Option<LitStr>,
    /// `table = "..."`: the SQL table.
    pub(crate) table: Option<LitStr>,
    /// `collection = "..."`: the collection name in loads.
    pub(crate) collection: Option<LitStr>,
    /// `crate = "..."`: the path generated code uses instead of `::sync_core`.
    pub(crate) krate: Option<Path>,
    /// `merge = "..."`: the merge policy, with the span of its value.
    pub(crate) merge: Option<(RowMerge, Span)>,
    /// `stream(...)`, any number: the declared streams.
    pub(crate) streams: Vec<super::stream::StreamAttr>,
    /// Whether some attribute could not be read; checks that would only repeat the mistake
    /// (an invalid default table) are skipped.
    pub(crate) unread: bool,
}

impl Container {
    /// Reads the struct's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Container {
        let mut container = Container::default();
        let mut seen = Seen::default();
        let example = "#[sync(entity = \"Account\", table = \"accounts\")]";
        let (items, complete) = sync_items(cx, attrs, example);
        container.unread = !complete;
        for item in items {
            let read = match item.name.as_str() {
                "entity" | "table" | "collection" | "crate" | "merge" if !seen.first(cx, &item) => {
                    true
                }
                "entity" => set(&mut container.entity, super::string(cx, &item, "Account")),
                "table" => set(&mut container.table, super::string(cx, &item, "accounts")),
                "collection" => set(
                    &mut container.collection,
                    super::string(cx, &item, "accounts"),
                ),
                "crate" => set(&mut container.krate, crate_path(cx, &item)),
                "merge" => set(&mut container.merge, row_merge(cx, &item)),
                "stream" => match super::stream::read(cx, &item) {
                    Some(stream) => {
                        container.streams.push(stream);
                        true
                    }
                    None => false,
                },
                _ => {
                    super::unknown(cx, &item, &STRUCT, &super::field::FIELD);
                    false
                }
            };
            container.unread |= !read;
        }
        container
    }
}

/// Stores a value that was read; returns whether there was one.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let read = value.is_some();
    *slot = value;
    read
}

/// Reads `merge = "row"` or `merge = "field"`, spanned at the string.
fn row_merge(cx: &Ctxt, item: &super::Item) -> Option<(RowMerge, Span)> {
    let lit = super::string(cx, item, "field")?;
    match lit.value().as_str() {
        "row" => Some((RowMerge::Row, lit.span())),
        "field" => Some((RowMerge::Field, lit.span())),
        other => {
            let hint = if matches!(other, "lww" | "max") {
                format!(
                    "; `{other}` is a field policy: put `#[sync(merge = \"{other}\")]` on a field of a \
                     `#[sync(merge = \"field\")]` struct"
                )
            } else {
                String::new()
            };
            cx.error_spanned_by(
                &lit,
                format!(
                    "unknown merge policy `{other}` for a struct; expected `row` (whole-row \
                     last-write-wins, the default) or `field` (last-write-wins per field), e.g. \
                     `#[sync(merge = \"field\")]`{hint}"
                ),
            );
            None
        }
    }
}

/// Reads `crate = "path::to::sync_core"` as a path, spanned at the string.
fn crate_path(cx: &Ctxt, item: &super::Item) -> Option<Path> {
    let lit = super::string(cx, item, "my_app::sync_core")?;
    match lit.parse::<Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(
                &lit,
                "`crate` must name the path of the sync_core crate, e.g. `#[sync(crate = \"my_app::sync_core\")]`",
            );
            None
        }
    }
}

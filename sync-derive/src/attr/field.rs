//! `#[sync(...)]` on a field: `id`, `updated_at`, `json`, `index`, `column`, `skip`,
//! `default`, `ts` and `merge`.

use proc_macro2::Span;
use syn::{Attribute, LitStr};

use super::{Place, Seen, flag, sync_items};
use crate::ctxt::Ctxt;

/// The attributes valid on a field.
pub(crate) const FIELD: Place = Place {
    kind: "field",
    put: "on a field",
    forms: &[
        "id",
        "updated_at",
        "json",
        "index",
        "column = \"...\"",
        "skip",
        "default",
        "ts = \"...\"",
        "merge = \"...\"",
    ],
};

/// A field's merge policy under `#[sync(merge = "field")]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldPolicy {
    /// `lww`: last-write-wins on the field's own version, the default.
    Lww,
    /// `max`: the greater value wins.
    Max,
}

/// A field's `#[sync(...)]` attributes. A flag holds the span of its name, so rules about
/// it can point there; it is `None` where not given (or given wrongly, which is reported).
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `id`: the entity's id.
    pub(crate) id: Option<Span>,
    /// `updated_at`: the entity's version.
    pub(crate) updated_at: Option<Span>,
    /// `json`: stored as a JSON document.
    pub(crate) json: Option<Span>,
    /// `index`: the store keeps an index on the column.
    pub(crate) index: Option<Span>,
    /// `skip`: not stored; rebuilt with `Default::default()`.
    pub(crate) skip: Option<Span>,
    /// `default`: existing rows get `Default::default()` when the column is added.
    pub(crate) default: Option<Span>,
    /// `column = "..."`: the SQL column name.
    pub(crate) column: Option<LitStr>,
    /// `ts = "..."`: the field's TypeScript type, instead of its Rust type's.
    pub(crate) ts: Option<LitStr>,
    /// `merge = "..."`: the field's merge policy, with the span of its value.
    pub(crate) merge: Option<(FieldPolicy, Span)>,
    /// Whether some attribute could not be read: the field's role or column is unknown, so
    /// checks that would only repeat the mistake ("missing id", duplicate column) skip it.
    pub(crate) unread: bool,
}

impl FieldAttrs {
    /// Reads a field's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
        let mut field = FieldAttrs::default();
        let mut seen = Seen::default();
        let (items, complete) = sync_items(cx, attrs, "#[sync(id)]");
        field.unread = !complete;
        for item in items {
            let slot = match item.name.as_str() {
                "id" => &mut field.id,
                "updated_at" => &mut field.updated_at,
                "json" => &mut field.json,
                "index" => &mut field.index,
                "skip" => &mut field.skip,
                "default" => &mut field.default,
                "column" => {
                    if seen.first(cx, &item) {
                        field.column = super::string(cx, &item, "column_name");
                        field.unread |= field.column.is_none();
                    }
                    continue;
                }
                "ts" => {
                    if seen.first(cx, &item) {
                        field.ts = super::string(cx, &item, "'a' | 'b'");
                    }
                    continue;
                }
                "merge" => {
                    if seen.first(cx, &item) {
                        field.merge = field_policy(cx, &item);
                    }
                    continue;
                }
                _ => {
                    super::unknown(cx, &item, &FIELD, &super::container::STRUCT);
                    field.unread = true;
                    continue;
                }
            };
            if seen.first(cx, &item) {
                *slot = Some(flag(cx, &item));
            }
        }
        field
    }

    /// The flags set on the field, by name, in a fixed order.
    pub(crate) fn flags(&self) -> [(&'static str, Option<Span>); 6] {
        [
            ("id", self.id),
            ("updated_at", self.updated_at),
            ("json", self.json),
            ("index", self.index),
            ("skip", self.skip),
            ("default", self.default),
        ]
    }
}

/// Reads `merge = "lww"` or `merge = "max"`, spanned at the string.
fn field_policy(cx: &Ctxt, item: &super::Item) -> Option<(FieldPolicy, Span)> {
    let lit = super::string(cx, item, "max")?;
    let policy = match lit.value().as_str() {
        "lww" => FieldPolicy::Lww,
        "max" => FieldPolicy::Max,
        "counter" => {
            cx.error_spanned_by(
                &lit,
                "there is no `counter` merge policy: a counter needs each increment counted \
                 exactly once, which whole-row changes and retries cannot promise (see \
                 docs/adding-an-entity.md, \"Merge policies\"); use `#[sync(merge = \"max\")]` \
                 for a value that only grows",
            );
            return None;
        }
        other => {
            let hint = if matches!(other, "row" | "field") {
                format!(
                    "; `{other}` is a struct policy: put `#[sync(merge = \"{other}\")]` on the struct"
                )
            } else {
                String::new()
            };
            cx.error_spanned_by(
                &lit,
                format!(
                    "unknown merge policy `{other}` for a field; expected `lww` (the newer edit of \
                     the field wins, the default) or `max` (the greater value wins), e.g. \
                     `#[sync(merge = \"max\")]`{hint}"
                ),
            );
            return None;
        }
    };
    Some((policy, lit.span()))
}

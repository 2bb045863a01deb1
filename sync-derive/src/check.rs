//! The rules that span more than one attribute or field, one function each. Each reports to
//! the [`Ctxt`] and goes on, so one compile shows every mistake.

use std::collections::BTreeMap;

use proc_macro2::Span;

use crate::ast::{Entity, Field, Name};
use crate::attr::container::RowMerge;
use crate::attr::field::FieldPolicy;
use crate::ctxt::Ctxt;

/// Checks every rule on `entity`.
pub(crate) fn check(cx: &Ctxt, entity: &Entity<'_>) {
    for field in entity.fields() {
        skip_conflicts(cx, field);
        json_conflicts(cx, field);
    }
    if entity.fields.is_some() {
        let id = Role {
            flag: "id",
            what: "id",
            example: "id: String",
        };
        exactly_one(cx, entity, &id, |field| field.attrs.id);
        let updated_at = Role {
            flag: "updated_at",
            what: "version",
            example: "updated_at: Option<DateTime<Utc>>",
        };
        exactly_one(cx, entity, &updated_at, |field| field.attrs.updated_at);
    }
    table_and_collection(cx, entity);
    column_names(cx, entity);
    duplicate_columns(cx, entity);
    merge_policies(cx, entity);
    streams(cx, entity);
}

/// Each stream partitions by a stored, indexed, non-JSON field of this entity, and its
/// name is unique on the entity.
fn streams(cx: &Ctxt, entity: &Entity<'_>) {
    let mut names = std::collections::BTreeSet::new();
    for stream in &entity.attrs.streams {
        if !names.insert(stream.name.value()) {
            cx.error_spanned_by(
                &stream.name,
                format!(
                    "a second stream named `{}`; stream names are unique",
                    stream.name.value()
                ),
            );
        }
        if entity.fields.is_none() {
            continue;
        }
        let Some(field) = entity.columns().find(|field| *field.ident == stream.by) else {
            cx.error_spanned_by(
                &stream.by,
                format!(
                    "no stored field `{}` to partition the stream `{}` by; `by` names a field \
                     of this struct",
                    stream.by,
                    stream.name.value()
                ),
            );
            continue;
        };
        if field.attrs.index.is_none() {
            cx.error_spanned_by(
                &stream.by,
                format!(
                    "the stream `{}` partitions by `{}`, which has no index: mark the field \
                     `#[sync(index)]`, so that catch-up is an index scan on (key, seq)",
                    stream.name.value(),
                    stream.by
                ),
            );
        }
        if field.attrs.json.is_some() {
            cx.error_spanned_by(
                &stream.by,
                "a stream cannot partition by a `#[sync(json)]` field: its key must be a scalar",
            );
        }
    }
}

/// A field every entity has exactly one of, for [`exactly_one`].
struct Role {
    /// Its flag: `id`.
    flag: &'static str,
    /// What it holds, in messages: `id`, `version`.
    what: &'static str,
    /// A field declaration carrying it: `id: String`.
    example: &'static str,
}

/// Exactly one field carries the role's flag: a missing one is reported at the struct's
/// name, every extra one at its flag.
fn exactly_one(
    cx: &Ctxt,
    entity: &Entity<'_>,
    role: &Role,
    get: impl Fn(&Field<'_>) -> Option<Span>,
) {
    let Role {
        flag,
        what,
        example,
    } = role;
    let mut marked = entity
        .fields()
        .iter()
        .filter_map(|field| Some((field, get(field)?)));
    let Some((first, _)) = marked.next() else {
        if entity.fields().iter().any(|field| field.attrs.unread) {
            // The flag may be among the attributes that could not be read.
            return;
        }
        cx.error_spanned_by(
            entity.ident,
            format!(
                "missing `#[sync({flag})]`: mark the field that holds the entity's {what}, e.g. \
                 `#[sync({flag})] pub {example}`"
            ),
        );
        return;
    };
    for (_, span) in marked {
        cx.error_at(
            span,
            format!(
                "second `#[sync({flag})]`: field `{}` already holds the entity's {what}, and an \
                 entity has exactly one; remove this one",
                first.name()
            ),
        );
    }
}

/// `skip` excludes every other attribute of the field: a skipped field has no column.
fn skip_conflicts(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.skip.is_none() {
        return;
    }
    let mut others: Vec<(&str, Span)> = field
        .attrs
        .flags()
        .into_iter()
        .filter(|&(name, _)| name != "skip")
        .filter_map(|(name, span)| Some((name, span?)))
        .collect();
    if let Some(column) = &field.attrs.column {
        others.push(("column", column.span()));
    }
    if let Some((_, merge)) = field.attrs.merge {
        others.push(("merge", merge));
    }
    for (name, span) in others {
        cx.error_at(
            span,
            format!(
                "`{name}` cannot be combined with `skip`: a skipped field is not stored; remove \
                 one of them"
            ),
        );
    }
}

/// `json` cannot store the id or the version, which the stores read as plain columns.
fn json_conflicts(cx: &Ctxt, field: &Field<'_>) {
    let Some(json) = field.attrs.json else { return };
    if field.attrs.id.is_some() {
        cx.error_at(
            json,
            "`json` cannot be combined with `id`: an id is a `String`, `uuid::Uuid` or `i64` \
             column; remove `json`",
        );
    }
    if field.attrs.updated_at.is_some() {
        cx.error_at(
            json,
            "`json` cannot be combined with `updated_at`: the version is a \
             `DateTime<Utc>` column; remove `json`",
        );
    }
}

/// A field's merge policy needs per-field merging on the struct and a field it can merge;
/// a field-merged entity keeps the JSON key of its field versions free.
fn merge_policies(cx: &Ctxt, entity: &Entity<'_>) {
    let per_field = matches!(entity.attrs.merge, Some((RowMerge::Field, _)));
    for field in entity.fields() {
        if per_field && entity.written_key(field) == "_fieldVersions" {
            cx.error_spanned_by(
                field.ident,
                "a field of a `#[sync(merge = \"field\")]` entity cannot be written as \
                 `_fieldVersions`: that key carries the field versions; rename it with \
                 `#[serde(rename = \"...\")]`",
            );
        }
        let Some((policy, span)) = field.attrs.merge else {
            continue;
        };
        let name = match policy {
            FieldPolicy::Lww => "lww",
            FieldPolicy::Max => "max",
        };
        if field.attrs.id.is_some() || field.attrs.updated_at.is_some() {
            let what = if field.attrs.id.is_some() {
                "the id, which never changes"
            } else {
                "`updated_at`, which is the highest version merged into the row"
            };
            cx.error_at(
                span,
                format!("`merge` cannot be set on {what}; remove `merge = \"{name}\"`"),
            );
        } else if !per_field {
            cx.error_at(
                span,
                format!(
                    "`merge = \"{name}\"` on a field needs per-field merging: put \
                     `#[sync(merge = \"field\")]` on the struct (whole-row last-write-wins \
                     replaces every field at once)"
                ),
            );
        } else if policy == FieldPolicy::Max && field.attrs.json.is_some() {
            cx.error_at(
                span,
                "`merge = \"max\"` needs values with an order, and a `json` field has none; \
                 remove `merge = \"max\"` (the field is merged by last-write-wins)",
            );
        }
    }
}

/// The table and the collection are safe SQL names.
///
/// A name derived from the struct's name is not checked when an attribute could not be
/// read: it may be the one that would have set it.
fn table_and_collection(cx: &Ctxt, entity: &Entity<'_>) {
    let checked = |name: &Name| name.explicit || !entity.attrs.unread;
    let table = entity.table();
    let collection = entity.collection();
    if table.value == collection.value {
        if checked(&table) {
            sql_name(cx, &table, "table and collection", "table");
        }
        return;
    }
    if checked(&table) {
        sql_name(cx, &table, "table", "table");
    }
    if checked(&collection) {
        sql_name(cx, &collection, "collection", "collection");
    }
}

/// The columns whose names are known: given by `column = "..."`, or derived from a field
/// whose attributes were all read.
fn known_columns<'e>(entity: &'e Entity<'_>) -> impl Iterator<Item = (&'e Field<'e>, Name)> {
    entity
        .columns()
        .map(|field| (field, field.column()))
        .filter(|(field, column)| column.explicit || !field.attrs.unread)
}

/// Every column's name is a safe SQL name.
fn column_names(cx: &Ctxt, entity: &Entity<'_>) {
    for (_, column) in known_columns(entity) {
        sql_name(cx, &column, "column", "column");
    }
}

/// No two fields share a column; SQLite compares column names ignoring ASCII case.
fn duplicate_columns(cx: &Ctxt, entity: &Entity<'_>) {
    let mut seen = BTreeMap::new();
    for (field, column) in known_columns(entity) {
        let key = column.value.to_ascii_lowercase();
        if let Some(first) = seen.get(&key) {
            cx.error_at(
                column.span,
                format!(
                    "duplicate column `{}`: field `{first}` is already stored there (column names \
                     are compared ignoring case); give this field another name with \
                     `#[sync(column = \"...\")]`",
                    column.value
                ),
            );
        } else {
            seen.insert(key, field.name());
        }
    }
}

/// Reports `name` if it is not a safe SQL name: a letter or `_` then letters, digits and
/// `_`, at most 63 bytes, not starting with `_sync`. `what` names it in the message, `attr`
/// is the attribute that sets it.
fn sql_name(cx: &Ctxt, name: &Name, what: &str, attr: &str) {
    let Err(problem) = validate_sql_name(&name.value) else {
        return;
    };
    let fix = if name.explicit {
        "choose another name".to_owned()
    } else {
        format!("choose another name with `#[sync({attr} = \"...\")]`")
    };
    cx.error_at(
        name.span,
        format!("invalid {what} name `{}`: {problem}; {fix}", name.value),
    );
}

/// Why `name` is not a safe SQL name, if it is not.
pub(crate) fn validate_sql_name(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("a SQL name is an ASCII letter or `_`, then letters, digits and `_`");
    }
    if name.len() > 63 {
        return Err("a SQL name is at most 63 bytes long");
    }
    if name.to_ascii_lowercase().starts_with("_sync") {
        return Err("names starting with `_sync` are reserved for the store's hidden columns");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_sql_name;

    #[test]
    fn sql_names() {
        assert!(validate_sql_name("accounts").is_ok());
        assert!(validate_sql_name("_private").is_ok());
        assert!(validate_sql_name("a1_b2").is_ok());
        assert!(validate_sql_name(&"a".repeat(63)).is_ok());
        assert!(validate_sql_name(&"a".repeat(64)).is_err());
        assert!(validate_sql_name("").is_err());
        assert!(validate_sql_name("1st").is_err());
        assert!(validate_sql_name("my table").is_err());
        assert!(validate_sql_name("drop;--").is_err());
        assert!(validate_sql_name("café").is_err());
        assert!(validate_sql_name("_sync_seq").is_err());
        assert!(validate_sql_name("_SYNCED").is_err());
    }
}

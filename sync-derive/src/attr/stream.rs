//! `#[sync(stream(name = "...", by = field, filter = path, role = "..."))]` on the struct:
//! one declared stream of partial sync. Repeatable.

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, Ident, Lit, LitStr, Meta, Path, Token};

use super::Item;
use crate::ctxt::Ctxt;

/// The correct form, for hints.
pub(crate) const EXAMPLE: &str = "#[sync(stream(name = \"by_account\", by = account_id, filter = is_visible, role = \"viewer\"))]";

/// One `stream(...)`, with the spans of what it names.
pub(crate) struct StreamAttr {
    /// `name = "..."`.
    pub(crate) name: LitStr,
    /// `by = field`: the partition field.
    pub(crate) by: Ident,
    /// `filter = path`: a `fn(&Self) -> bool`.
    pub(crate) filter: Option<Path>,
    /// `role = "..."`: the least role.
    pub(crate) role: Option<LitStr>,
}

/// Reads one `stream(...)` item, reporting every mistake; `None` if it cannot be used.
pub(crate) fn read(cx: &Ctxt, item: &Item) -> Option<StreamAttr> {
    let Meta::List(list) = &item.meta else {
        cx.error_spanned_by(
            &item.meta,
            format!("`stream` takes a list, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(metas) => metas,
        Err(error) => {
            cx.push(syn::Error::new(
                error.span(),
                format!("{error}; the correct form is e.g. `{EXAMPLE}`"),
            ));
            return None;
        }
    };
    let (mut name, mut by, mut filter, mut role) = (None, None, None, None);
    let mut complete = true;
    for meta in metas {
        let key = meta.path().get_ident().map(ToString::to_string);
        let value = match &meta {
            Meta::NameValue(value) => &value.value,
            _ => {
                cx.error_spanned_by(
                    &meta,
                    format!("expected `key = value` inside `stream(...)`, e.g. `{EXAMPLE}`"),
                );
                complete = false;
                continue;
            }
        };
        match key.as_deref() {
            Some("name") => name = string(cx, value, "name", &mut complete),
            Some("role") => role = string(cx, value, "role", &mut complete),
            Some("by") => match path(value).and_then(|path| path.get_ident().cloned()) {
                Some(ident) => by = Some(ident),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`by` names the partition field itself, e.g. `by = account_id`; a stream \
                         partitions by a column of its own entity, with no hop through another",
                    );
                    complete = false;
                }
            },
            Some("filter") => match path(value) {
                Some(path) => filter = Some(path.clone()),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`filter` names a function `fn(&Self) -> bool` that reads only the row, \
                         e.g. `filter = is_visible`; closures and expressions are not allowed",
                    );
                    complete = false;
                }
            },
            _ => {
                cx.error_spanned_by(
                    meta.path(),
                    format!(
                        "unknown stream attribute; expected `name`, `by`, `filter` or `role`, \
                         e.g. `{EXAMPLE}`"
                    ),
                );
                complete = false;
            }
        }
    }
    let Some(by) = by else {
        cx.error_at(
            list.span(),
            format!("a stream needs its partition field: `by = ...`, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    let Some(name) = name else {
        cx.error_at(
            list.span(),
            format!("a stream needs a name: `name = \"...\"`, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    complete.then_some(StreamAttr {
        name,
        by,
        filter,
        role,
    })
}

fn path(value: &Expr) -> Option<&Path> {
    match value {
        Expr::Path(ExprPath {
            path, qself: None, ..
        }) => Some(path),
        _ => None,
    }
}

fn string(cx: &Ctxt, value: &Expr, key: &str, complete: &mut bool) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if !lit.value().is_empty() => Some(lit.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{key}` takes a non-empty string, e.g. `{EXAMPLE}`"),
            );
            *complete = false;
            None
        }
    }
}

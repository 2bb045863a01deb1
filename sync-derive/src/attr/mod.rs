//! Attributes to typed values: `#[sync(...)]` on the struct ([`container`]) and on fields
//! ([`field`]), and the few `#[serde(...)]` attributes the derive must agree with
//! ([`serde`]). Every value keeps the span of the token that set it, for error messages.
//!
//! This module holds what both sides share: splitting `#[sync(a, b = "c")]` into items,
//! reading a flag or a string, and refusing duplicates.

pub(crate) mod container;
pub(crate) mod field;
pub(crate) mod serde;
pub(crate) mod stream;

use std::collections::BTreeSet;

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;

/// One item of a `#[sync(...)]` list, with its name already read.
pub(crate) struct Item {
    /// The item's name, e.g. `entity` or `id`.
    pub(crate) name: String,
    /// The whole item, for its value and spans.
    pub(crate) meta: Meta,
}

/// The items of every `#[sync(...)]` among `attrs`, in order, each named by a single
/// identifier, and whether every attribute could be read. Malformed attributes and items are
/// reported; `example` is the correct form shown in the hint.
pub(crate) fn sync_items(cx: &Ctxt, attrs: &[Attribute], example: &str) -> (Vec<Item>, bool) {
    let mut items = Vec::new();
    let mut complete = true;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("sync")) {
        let list = match &attr.meta {
            Meta::List(list) => list,
            Meta::Path(_) | Meta::NameValue(_) => {
                cx.error_spanned_by(
                    attr,
                    format!("expected a list of sync attributes, e.g. `{example}`"),
                );
                complete = false;
                continue;
            }
        };
        let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            Ok(metas) => metas,
            Err(error) => {
                let hint = format!("{error}; the correct form is e.g. `{example}`");
                cx.push(syn::Error::new(error.span(), hint));
                complete = false;
                continue;
            }
        };
        for meta in metas {
            match meta.path().get_ident() {
                Some(ident) => items.push(Item {
                    name: ident.to_string(),
                    meta,
                }),
                None => {
                    cx.error_spanned_by(
                        meta.path(),
                        format!("expected a sync attribute name, not a path, e.g. `{example}`"),
                    );
                    complete = false;
                }
            }
        }
    }
    (items, complete)
}

/// Remembers which attribute names were seen, to refuse the second of any name.
#[derive(Default)]
pub(crate) struct Seen(BTreeSet<String>);

impl Seen {
    /// Whether `item` is the first of its name; reports it as a duplicate otherwise.
    pub(crate) fn first(&mut self, cx: &Ctxt, item: &Item) -> bool {
        let first = self.0.insert(item.name.clone());
        if !first {
            cx.error_spanned_by(
                item.meta.path(),
                format!("duplicate sync attribute `{}`; remove this one", item.name),
            );
        }
        first
    }
}

/// Reads a flag like `id`: a bare name. Returns the name's span; a flag given with a value
/// is reported but still counts as set, so no "missing" error follows.
pub(crate) fn flag(cx: &Ctxt, item: &Item) -> Span {
    let name = &item.name;
    match &item.meta {
        Meta::Path(_) => {}
        Meta::NameValue(value) => cx.error_spanned_by(
            &value.value,
            format!("`{name}` takes no value; write `#[sync({name})]`"),
        ),
        Meta::List(list) => cx.error_at(
            list.delimiter.span().join(),
            format!("`{name}` takes no arguments; write `#[sync({name})]`"),
        ),
    }
    item.meta.path().span()
}

/// Reads a non-empty string value like `table = "accounts"`; `example` is the value shown
/// in the hint.
pub(crate) fn string(cx: &Ctxt, item: &Item, example: &str) -> Option<LitStr> {
    let name = &item.name;
    let hint = format!("`#[sync({name} = \"{example}\")]`");
    match &item.meta {
        Meta::NameValue(value) => match &value.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) if lit.value().is_empty() => {
                cx.error_spanned_by(lit, format!("`{name}` cannot be empty, e.g. {hint}"));
                None
            }
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => Some(lit.clone()),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("expected a string literal for `{name}`, e.g. {hint}"),
                );
                None
            }
        },
        Meta::Path(path) => {
            cx.error_spanned_by(path, format!("`{name}` needs a value, e.g. {hint}"));
            None
        }
        Meta::List(list) => {
            cx.error_at(
                list.delimiter.span().join(),
                format!("`{name}` takes a value after `=`, e.g. {hint}"),
            );
            None
        }
    }
}

/// Where an attribute is written: on the struct or on a field, and what is valid there.
pub(crate) struct Place {
    /// `struct` or `field`.
    pub(crate) kind: &'static str,
    /// Where to put an attribute that belongs here: `on the struct`, `on a field`.
    pub(crate) put: &'static str,
    /// The attributes valid here, as written: `id`, `table = "..."`.
    pub(crate) forms: &'static [&'static str],
}

impl Place {
    /// The form of the attribute called `name`, if it is valid here.
    fn form(&self, name: &str) -> Option<&'static str> {
        self.forms
            .iter()
            .copied()
            .find(|form| form_name(form) == name)
    }
}

/// The name of an attribute form: `table` for `table = "..."`.
fn form_name(form: &str) -> &str {
    form.split(' ').next().unwrap_or(form)
}

/// Reports `item`, found at `here`, as unknown; if it belongs `there`, says so.
pub(crate) fn unknown(cx: &Ctxt, item: &Item, here: &Place, there: &Place) {
    let name = &item.name;
    let kind = here.kind;
    let message = if let Some(form) = there.form(name) {
        let (other, put) = (there.kind, there.put);
        format!(
            "`{name}` is a {other} attribute, not a {kind} attribute; put `#[sync({form})]` {put}"
        )
    } else {
        let list = here
            .forms
            .iter()
            .map(|form| format!("`{form}`"))
            .collect::<Vec<_>>();
        let list = list.join(", ");
        match closest(name, here.forms) {
            Some(close) => format!(
                "unknown {kind} attribute `{name}`; did you mean `{close}`? expected one of {list}"
            ),
            None => format!("unknown {kind} attribute `{name}`; expected one of {list}"),
        }
    };
    cx.error_spanned_by(item.meta.path(), message);
}

/// The valid name `name` is most likely a typo of, if any.
fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|valid| form_name(valid))
        .map(|valid| (edit_distance(name, valid), valid))
        .filter(|&(distance, valid)| distance <= valid.len().max(3) / 3)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, valid)| valid)
}

/// The edit distance between two short names, counting a swap of neighbours as one edit
/// (optimal string alignment), so `tabel` is one edit from `table`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut table = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_attribute() {
        let valid = [
            "id",
            "updated_at",
            "json",
            "index",
            "skip",
            "default",
            "column = \"...\"",
        ];
        assert_eq!(closest("updated", &valid), Some("updated_at"));
        assert_eq!(closest("update_at", &valid), Some("updated_at"));
        assert_eq!(closest("colum", &valid), Some("column"));
        assert_eq!(closest("jsno", &valid), Some("json"));
        assert_eq!(closest("indx", &valid), Some("index"));
        assert_eq!(closest("primary_key", &valid), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("tabel", "table"), 1);
    }
}

//! The `#[serde(...)]` attributes the derive must agree with: a field's `rename` and the
//! struct's `rename_all` (the JSON keys of the id and `updated_at`, and of every property
//! of the TypeScript interface), and the ones that decide whether a field is written at all
//! (`skip`, `skip_serializing`, `skip_serializing_if`, `flatten`). Everything else serde
//! accepts is skipped, and anything malformed is left for serde itself to report.

use syn::parse::ParseStream;
use syn::{Attribute, LitStr, Token};

use crate::case::RenameRule;

/// The struct's `rename_all` rule for deserializing, if any.
pub(crate) fn rename_all(attrs: &[Attribute]) -> Option<RenameRule> {
    deserialize_name(attrs, "rename_all").and_then(|name| RenameRule::from_name(&name))
}

/// The field's `rename` for deserializing, if any.
pub(crate) fn rename(attrs: &[Attribute]) -> Option<String> {
    deserialize_name(attrs, "rename")
}

/// The struct's `rename_all` rule for serializing, if any.
pub(crate) fn rename_all_serialize(attrs: &[Attribute]) -> Option<RenameRule> {
    name(attrs, "rename_all", "serialize").and_then(|name| RenameRule::from_name(&name))
}

/// The field's `rename` for serializing, if any.
pub(crate) fn rename_serialize(attrs: &[Attribute]) -> Option<String> {
    name(attrs, "rename", "serialize")
}

/// How serde writes a field, as far as its TypeScript property is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Writes {
    /// `skip` or `skip_serializing`: never written.
    pub(crate) skipped: bool,
    /// `skip_serializing_if = "..."`: sometimes left out.
    pub(crate) sometimes: bool,
    /// `flatten`: its keys are written into the entity's object.
    pub(crate) flatten: bool,
}

/// How serde writes the field with `attrs`.
pub(crate) fn writes(attrs: &[Attribute]) -> Writes {
    let mut writes = Writes::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                writes.skipped = true;
            } else if meta.path.is_ident("skip_serializing_if") {
                writes.sometimes = true;
            } else if meta.path.is_ident("flatten") {
                writes.flatten = true;
            }
            skip_value(meta.input)
        });
    }
    writes
}

/// The item's doc comment (`///` lines), trimmed, if any.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value().trim().to_owned()),
            _ => None,
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The value of `key = "..."` or of `deserialize = "..."` in `key(...)` among the
/// `#[serde(...)]` attributes; the last one wins, as in serde.
fn deserialize_name(attrs: &[Attribute], key: &str) -> Option<String> {
    name(attrs, key, "deserialize")
}

/// The value of `key = "..."` or of `side = "..."` in `key(...)` among the
/// `#[serde(...)]` attributes; the last one wins, as in serde.
fn name(attrs: &[Attribute], key: &str, side: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        // A malformed attribute is serde's to report; what was read before it still counts.
        let _ = attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident(key) {
                return skip_value(meta.input);
            }
            if meta.input.peek(Token![=]) {
                found = Some(meta.value()?.parse::<LitStr>()?.value());
                return Ok(());
            }
            meta.parse_nested_meta(|inner| {
                if inner.path.is_ident(side) {
                    found = Some(inner.value()?.parse::<LitStr>()?.value());
                    Ok(())
                } else {
                    skip_value(inner.input)
                }
            })
        });
    }
    found
}

/// Skips whatever follows an attribute name: `= value`, a `(...)` list, or nothing.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<proc_macro2::TokenTree>()?;
        }
    } else if input.peek(syn::token::Paren) {
        input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn rename_reads_plain_and_deserialize_forms() {
        let plain: Vec<Attribute> = vec![parse_quote!(#[serde(default, rename = "x")])];
        assert_eq!(rename(&plain).as_deref(), Some("x"));
        let split: Vec<Attribute> =
            vec![parse_quote!(#[serde(rename(serialize = "a", deserialize = "b"))])];
        assert_eq!(rename(&split).as_deref(), Some("b"));
        let serialize_only: Vec<Attribute> = vec![parse_quote!(#[serde(rename(serialize = "a"))])];
        assert_eq!(rename(&serialize_only), None);
    }

    #[test]
    fn unknown_serde_attributes_are_skipped() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[serde(with = "chrono::serde::ts_seconds", skip_serializing_if = "Option::is_none")]),
            parse_quote!(#[serde(bound(serialize = "T: Serialize"), deny_unknown_fields)]),
            parse_quote!(#[doc = "not serde"]),
            parse_quote!(#[serde(rename_all(serialize = "UPPERCASE", deserialize = "camelCase"))]),
        ];
        assert_eq!(rename_all(&attrs), Some(RenameRule::Camel));
        assert_eq!(rename(&attrs), None);
    }

    #[test]
    fn serialize_names_writes_and_docs() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[doc = " First."]),
            parse_quote!(#[doc = " Second."]),
            parse_quote!(#[serde(rename(serialize = "out", deserialize = "in"))]),
            parse_quote!(#[serde(skip_serializing_if = "Option::is_none", default)]),
        ];
        assert_eq!(rename_serialize(&attrs).as_deref(), Some("out"));
        assert_eq!(rename(&attrs).as_deref(), Some("in"));
        assert_eq!(docs(&attrs).as_deref(), Some("First.\nSecond."));
        let expected = Writes {
            skipped: false,
            sometimes: true,
            flatten: false,
        };
        assert_eq!(writes(&attrs), expected);
        let skipped: Vec<Attribute> = vec![parse_quote!(#[serde(skip)])];
        assert!(writes(&skipped).skipped);
        assert_eq!(docs(&skipped), None);
    }

    #[test]
    fn unknown_rules_are_ignored() {
        let attrs: Vec<Attribute> = vec![parse_quote!(#[serde(rename_all = "Title Case")])];
        assert_eq!(rename_all(&attrs), None);
    }
}

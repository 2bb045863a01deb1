//! The `#[serde(...)]` attributes that decide the JSON key of `updated_at`: a field's
//! `rename` and the struct's `rename_all`. Everything else serde accepts is skipped, and
//! anything malformed is left for serde itself to report.

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

/// The value of `key = "..."` or of `deserialize = "..."` in `key(...)` among the
/// `#[serde(...)]` attributes; the last one wins, as in serde.
fn deserialize_name(attrs: &[Attribute], key: &str) -> Option<String> {
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
                if inner.path.is_ident("deserialize") {
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
    fn unknown_rules_are_ignored() {
        let attrs: Vec<Attribute> = vec![parse_quote!(#[serde(rename_all = "Title Case")])];
        assert_eq!(rename_all(&attrs), None);
    }
}

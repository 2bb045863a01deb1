//! `to_row` and `from_row`: how each field becomes a column value and back.
//!
//! Every use of a field's type goes through a qualified path spanned at that type, so an
//! unsupported type is one error, at the field, with the hints of the sync-core trait it
//! fails (uses that fail the same way produce the same diagnostic, which rustc shows once).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::Private;
use crate::ast::{Entity, Field};

/// The function encoding `field` as a column value: it takes `&FieldTy`.
pub(super) fn encoder(field: &Field<'_>, p: &Private) -> TokenStream {
    let ty = field.ty;
    if field.attrs.json.is_some() {
        quote_spanned!(field.ty_span()=> #p::json_to_value::<#ty>)
    } else {
        quote_spanned!(field.ty_span()=> <#ty as #p::Field>::to_value)
    }
}

/// The function decoding `field` from a column value: `fn(Value) -> Result<FieldTy, String>`.
fn decoder(field: &Field<'_>, p: &Private) -> TokenStream {
    let ty = field.ty;
    if field.attrs.json.is_some() {
        quote_spanned!(field.ty_span()=> #p::json_from_value::<#ty>)
    } else {
        quote_spanned!(field.ty_span()=> <#ty as #p::Field>::from_value)
    }
}

/// `<FieldTy as Default>::default()`, for skipped fields and `#[sync(default)]`.
pub(super) fn default_value(field: &Field<'_>, p: &Private) -> TokenStream {
    let ty = field.ty;
    quote_spanned!(field.ty_span()=> <#ty as #p::Default>::default())
}

/// `fn to_row(&self)`: one value per stored field, in column order.
///
/// Pushes rather than `vec![..]`, whose tokens formatters leave unformatted, so the
/// expansion reads well in snapshots and `cargo expand`.
pub(super) fn to_row(entity: &Entity<'_>, p: &Private) -> TokenStream {
    let count = proc_macro2::Literal::usize_unsuffixed(entity.columns().count());
    let pushes = entity.columns().map(|field| {
        let encode = encoder(field, p);
        let ident = field.ident;
        quote!(row.push(#encode(&self.#ident));)
    });
    quote! {
        fn to_row(&self) -> #p::Vec<#p::Value> {
            let mut row = #p::Vec::with_capacity(#count);
            #(#pushes)*
            row
        }
    }
}

/// `fn from_row(row)`: a struct literal in field order, which is column order with skipped
/// fields left out; Rust evaluates struct-literal fields in source order, so each stored
/// field takes the next column.
pub(super) fn from_row(entity: &Entity<'_>, p: &Private) -> TokenStream {
    let fields = entity.fields().iter().map(|field| {
        let ident = field.ident;
        if field.attrs.skip.is_some() {
            let value = default_value(field, p);
            quote!(#ident: #value)
        } else {
            let column = field.column().value;
            let decode = decoder(field, p);
            quote!(#ident: #p::decode(&mut values, #column, #decode)?)
        }
    });
    quote! {
        fn from_row(row: #p::Vec<#p::Value>) -> #p::Result<Self, #p::DecodeError> {
            let mut values = #p::IntoIterator::into_iter(row);
            #p::Ok(Self { #(#fields),* })
        }
    }
}

//! `COLUMNS`: the metadata of every stored field, and the functions behind
//! `#[sync(default)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::Private;
use super::row::{default_value, encoder};
use crate::ast::{Entity, Field};

/// The `COLUMNS` array, and the items it refers to (placed beside the impl).
pub(super) struct Columns {
    /// `&[Column { .. }, ..]`.
    pub(super) array: TokenStream,
    /// Each `Column { .. }`, for a second list.
    pub(super) items: Vec<TokenStream>,
    /// One `fn` per `#[sync(default)]` column, returning the encoded default.
    pub(super) default_fns: Vec<TokenStream>,
}

/// Describes the stored fields of `entity`, in field order.
pub(super) fn expand(entity: &Entity<'_>, p: &Private) -> Columns {
    let mut default_fns = Vec::new();
    let columns: Vec<TokenStream> = entity
        .columns()
        .map(|field| {
            let default = match field.attrs.default {
                Some(_) => {
                    let name = format_ident!("__sync_default_{}", field.name());
                    let encode = encoder(field, p);
                    let value = default_value(field, p);
                    default_fns.push(quote! {
                        fn #name() -> #p::Value {
                            #encode(&#value)
                        }
                    });
                    quote!(#p::Some(#name))
                }
                None => quote!(#p::None),
            };
            column(field, default, p)
        })
        .collect();
    Columns {
        array: quote!(&[#(#columns),*]),
        items: columns,
        default_fns,
    }
}

/// One `Column { .. }` literal.
fn column(field: &Field<'_>, default: TokenStream, p: &Private) -> TokenStream {
    let name = field.column().value;
    let rust_name = field.name();
    let ty = field.ty;
    let (sql_type, nullable) = if field.attrs.json.is_some() {
        (quote!(#p::SqlType::Json), quote!(false))
    } else {
        (
            quote_spanned!(field.ty_span()=> <#ty as #p::Field>::SQL_TYPE),
            quote_spanned!(field.ty_span()=> <#ty as #p::Field>::NULLABLE),
        )
    };
    let role = if field.attrs.id.is_some() {
        quote!(#p::Role::Id)
    } else if field.attrs.updated_at.is_some() {
        quote!(#p::Role::UpdatedAt)
    } else {
        quote!(#p::Role::Data)
    };
    let indexed = field.attrs.index.is_some();
    quote! {
        #p::Column {
            name: #name,
            field: #rust_name,
            sql_type: #sql_type,
            nullable: #nullable,
            role: #role,
            indexed: #indexed,
            default: #default,
        }
    }
}

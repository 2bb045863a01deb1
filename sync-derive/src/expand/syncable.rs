//! The `impl Syncable` of a valid entity, inside `const _: () = { ... };` so that nothing it
//! needs leaks into the user's namespace.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Private, columns, row, typescript};
use crate::ast::Entity;
use crate::attr::container::RowMerge;
use crate::attr::field::FieldPolicy;
use crate::attr::stream::KeysFrom;

/// The impl for `entity`, which passed every check. Fails only if the checks did not find
/// the id or `updated_at` field they promise, which is a bug of the derive.
pub(super) fn expand(entity: &Entity<'_>, p: &Private) -> syn::Result<TokenStream> {
    let (Some(id), Some(updated_at)) = (entity.id(), entity.updated_at()) else {
        return Err(syn::Error::new_spanned(
            entity.ident,
            "internal error in #[derive(Syncable)]: no id or updated_at field after checks",
        ));
    };
    let ident = entity.ident;
    let entity_name = entity.entity().value;
    let collection = entity.collection().value;
    let table = entity.table().value;
    let updated_at_key = entity.updated_at_key().unwrap_or_default();
    let id_key = entity.id_key().unwrap_or_default();
    let columns::Columns {
        array: columns,
        items,
        default_fns,
    } = columns::expand(entity, p);
    let merge = merge(entity, &items, p);
    let (streams, stream_checks) = streams(entity, p);
    let to_row = row::to_row(entity, p);
    let from_row = row::from_row(entity, p);
    let typescript = typescript::expand(entity, p);

    let (id_ident, id_ty) = (id.ident, id.ty);
    let to_id = quote_spanned!(id.ty_span()=> <#id_ty as #p::IdField>::to_id);
    let (at_ident, at_ty) = (updated_at.ident, updated_at.ty);
    let get = quote_spanned!(updated_at.ty_span()=> <#at_ty as #p::UpdatedAtField>::get);
    let set = quote_spanned!(updated_at.ty_span()=> <#at_ty as #p::UpdatedAtField>::set);

    Ok(quote! {
        const _: () = {
            #(#default_fns)*
            #stream_checks

            #[automatically_derived]
            impl #p::Syncable for #ident {
                const ENTITY: &'static str = #entity_name;
                const COLLECTION: &'static str = #collection;
                const TABLE: &'static str = #table;
                const COLUMNS: &'static [#p::Column] = #columns;
                const ID_KEY: &'static str = #id_key;
                const UPDATED_AT_KEY: &'static str = #updated_at_key;
                #merge
                #streams

                fn id(&self) -> #p::String {
                    #to_id(&self.#id_ident)
                }

                fn updated_at(&self) -> #p::Option<#p::DateTime<#p::Utc>> {
                    #get(&self.#at_ident)
                }

                fn set_updated_at(&mut self, at: #p::DateTime<#p::Utc>) {
                    #set(&mut self.#at_ident, at)
                }

                #to_row

                #from_row

                #typescript
            }
        };
    })
}

/// `const STREAMS` of an entity that declares streams; nothing otherwise (the trait's
/// default is none).
fn streams(entity: &Entity<'_>, p: &Private) -> (TokenStream, TokenStream) {
    if entity.attrs.streams.is_empty() {
        return (TokenStream::new(), TokenStream::new());
    }
    let ident = entity.ident;
    let mut checks = Vec::new();
    let streams = entity.attrs.streams.iter().enumerate().filter_map(|(n, stream)| {
        let field = entity.columns().find(|field| *field.ident == stream.by)?;
        let name = &stream.name;
        let column = field.column().value;
        let by = &stream.by;
        let ty = field.ty;
        let key_type = quote_spanned!(field.ty_span()=> <#ty as #p::Field>::SQL_TYPE);
        let key = quote_spanned!(field.ty_span()=> <#ty as #p::BucketKey>::bucket_key);
        let (filter, filter_name) = match &stream.filter {
            Some(path) => {
                let text = quote!(#path).to_string().replace(' ', "");
                (
                    quote_spanned!(path.span()=> #p::Some(#path as fn(&#ident) -> bool)),
                    text,
                )
            }
            None => (quote!(#p::None), String::new()),
        };
        let role = match &stream.role {
            Some(role) => quote!(#p::Some(#role)),
            None => quote!(#p::None),
        };
        let keys = match stream.keys.0 {
            KeysFrom::Params => quote!(#p::Keys::Params),
            KeysFrom::Principal => quote!(#p::Keys::Principal),
            KeysFrom::Both => quote!(#p::Keys::Both),
        };
        let via = match &stream.via {
            Some(via) => {
                let (entity, key, member) = (&via.entity, &via.key, &via.member);
                let key_name = key.to_string();
                let member_name = member.to_string();
                // Checked once, in constants spanned at the fields they name, so that a
                // missing or unindexed membership field is one error, at its name.
                let key_const = format_ident!("__SYNC_STREAM_{}_KEY_COLUMN", n);
                let member_const = format_ident!("__SYNC_STREAM_{}_MEMBER_COLUMN", n);
                let key_check = quote_spanned!(key.span()=> check(<#entity as Syncable>::COLUMNS, #key_name));
                let member_check = quote_spanned!(member.span()=> check(<#entity as Syncable>::COLUMNS, #member_name));
                checks.push(quote! {
                    const #key_const: &str = {
                        use #p::{Syncable, membership_column as check};
                        #key_check
                    };
                    const #member_const: &str = {
                        use #p::{Syncable, membership_column as check};
                        #member_check
                    };
                });
                let (key_column, member_column) = (quote!(#key_const), quote!(#member_const));
                quote! {
                    #p::Some(#p::Via {
                        entity: <#entity as #p::Syncable>::ENTITY,
                        member_column: #member_column,
                        key_column: #key_column,
                        member: |json: &#p::Json| {
                            <#entity as #p::Deserialize>::deserialize(json)
                                .ok()
                                .and_then(|row| #p::BucketKey::bucket_key(&row.#member))
                        },
                        key: |json: &#p::Json| {
                            <#entity as #p::Deserialize>::deserialize(json)
                                .ok()
                                .and_then(|row| #p::BucketKey::bucket_key(&row.#key))
                        },
                    })
                }
            }
            None => quote!(#p::None),
        };
        let whole = &stream.whole;
        Some(quote! {
            #p::Stream {
                name: #name,
                by: #column,
                key_type: #key_type,
                key: |row: &#ident| #key(&row.#by),
                filter: #filter,
                filter_name: #filter_name,
                role: #role,
                keys: #keys,
                via: #via,
                whole: &[#(#whole),*],
            }
        })
    }).collect::<Vec<_>>();
    (
        quote! {
            const STREAMS: &'static [#p::Stream<Self>] = &[#(#streams),*];
        },
        quote!(#(#checks)*),
    )
}

/// `const MERGE` of a `#[sync(merge = "field")]` entity: its stored columns with the field
/// versions column, and each field's policy; nothing for whole-row merging (the default).
fn merge(entity: &Entity<'_>, columns: &[TokenStream], p: &Private) -> TokenStream {
    if !matches!(entity.attrs.merge, Some((RowMerge::Field, _))) {
        return TokenStream::new();
    }
    let fields = entity
        .columns()
        .enumerate()
        .filter(|(_, field)| field.attrs.id.is_none() && field.attrs.updated_at.is_none())
        .map(|(index, field)| {
            let key = entity.written_key(field);
            let policy = match field.attrs.merge {
                Some((FieldPolicy::Max, _)) => quote!(#p::Policy::Max),
                _ => quote!(#p::Policy::Lww),
            };
            quote! {
                #p::FieldMerge { key: #key, column: #index, policy: #policy }
            }
        });
    quote! {
        const MERGE: #p::Merge = #p::Merge::Field(&#p::Fields {
            columns: &[#(#columns,)* #p::FIELD_VERSIONS],
            fields: &[#(#fields),*],
        });
    }
}

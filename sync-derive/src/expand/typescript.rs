//! `fn typescript()`: the entity's TypeScript interface, one property per field serde
//! writes, under the key it writes it with.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Type;

use super::Private;
use crate::ast::{Entity, Field};

/// The `fn typescript()` of the `Syncable` impl.
pub(super) fn expand(entity: &Entity<'_>, p: &Private) -> TokenStream {
    let name = syn::ext::IdentExt::unraw(entity.ident).to_string();
    let entity_name = entity.entity().value;
    let doc = text(entity.doc.as_deref(), p);
    let properties = entity
        .fields()
        .iter()
        .filter(|field| !field.writes.skipped && !field.writes.flatten)
        .map(|field| property(entity, field, p))
        .chain(field_versions(entity, p));
    quote! {
        fn typescript() -> #p::Interface {
            #p::Interface {
                name: #p::ToOwned::to_owned(#name),
                entity: #p::ToOwned::to_owned(#entity_name),
                doc: #doc,
                properties: #p::vec_of([#(#properties),*]),
            }
        }
    }
}

/// One `Property { .. }` literal.
fn property(entity: &Entity<'_>, field: &Field<'_>, p: &Private) -> TokenStream {
    let key = entity.written_key(field);
    let ty = field.ty;
    let ts = match &field.attrs.ts {
        Some(ts) => quote!(#p::ToOwned::to_owned(#ts)),
        None => {
            // Both traits are in scope and method resolution picks `ViaTsType` when the
            // type has a `TsType`, so one of the imports is always unused.
            let probe = quote_spanned!(field.ty_span()=> #p::Probe::<#ty>::new());
            quote! {{
                #[allow(unused_imports)]
                use #p::{Unknown as _, ViaTsType as _};
                (&#probe).ts_type()
            }}
        }
    };
    let optional = is_option(ty) || field.writes.sometimes;
    let doc = text(field.doc.as_deref(), p);
    quote! {
        #p::Property {
            name: #p::ToOwned::to_owned(#key),
            ty: #ts,
            optional: #optional,
            doc: #doc,
        }
    }
}

/// The `_fieldVersions` property of a `#[sync(merge = "field")]` entity, which its states
/// carry beside the fields.
fn field_versions(entity: &Entity<'_>, p: &Private) -> Option<TokenStream> {
    matches!(
        entity.attrs.merge,
        Some((crate::attr::container::RowMerge::Field, _))
    )
    .then(|| {
        let doc = "The version of each field, by its key (per-field merging).";
        quote! {
            #p::Property {
                name: #p::ToOwned::to_owned("_fieldVersions"),
                ty: #p::ToOwned::to_owned("Record<string, string>"),
                optional: true,
                doc: #p::Some(#p::ToOwned::to_owned(#doc)),
            }
        }
    })
}

/// `Some("text".to_owned())` or `None`.
fn text(text: Option<&str>, p: &Private) -> TokenStream {
    match text {
        Some(text) => quote!(#p::Some(#p::ToOwned::to_owned(#text))),
        None => quote!(#p::None),
    }
}

/// Whether `ty` is written `Option<..>` (by any path), which serde may leave null.
fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Option"),
        Type::Group(group) => is_option(&group.elem),
        Type::Paren(paren) => is_option(&paren.elem),
        _ => false,
    }
}

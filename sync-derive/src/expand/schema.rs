//! `#[derive(SyncSchema)]`: the `Payload` and `Schema` impls of an app's payload enum, its
//! serde impls (the wire's `{"entityType", "payload"}` pair), and `From` each entity; or,
//! for an invalid enum, the errors beside stub impls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use super::Private;
use crate::ctxt::Ctxt;
use crate::schema::Schema;

/// Expands `#[derive(SyncSchema)]` on `input`, callable from tests.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let schema = Schema::from_ast(&cx, &input);
    let p = Private(match &schema.krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::sync_core::__private),
    });
    match cx.finish() {
        Ok(()) => expand(&schema, &p),
        Err(errors) => fallback(&input, &p, &errors),
    }
}

/// The impls of a valid schema.
fn expand(schema: &Schema<'_>, p: &Private) -> TokenStream {
    let ident = schema.ident;
    let variants: Vec<_> = schema.variants.iter().map(|v| v.ident).collect();
    let types: Vec<_> = schema.variants.iter().map(|v| v.ty).collect();
    // Every use of an entity type is spanned at it and needs exactly `Syncable`, so a type
    // that is not an entity is one error, at the variant.
    let syncable: Vec<_> = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #p::Syncable>))
        .collect();
    let entities: Vec<_> = syncable.iter().map(|ty| quote!(#ty::ENTITY)).collect();
    let decode: Vec<_> = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #p::decode_variant::<#ty, Self>))
        .collect();
    let to_json: Vec<_> = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #p::entity_json::<#ty>))
        .collect();
    let serialize: Vec<_> = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #p::serialize_tagged::<#ty, __S>))
        .collect();
    let register = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> .entity::<#ty>()));
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Payload for #ident {
                fn entity_type(&self) -> &'static str {
                    match self {
                        #(Self::#variants(_) => #entities,)*
                    }
                }

                fn id(&self) -> #p::String {
                    match self {
                        #(Self::#variants(entity) => #syncable::id(entity),)*
                    }
                }

                fn resolve(entity_type: &str) -> #p::Option<&'static str> {
                    #(if entity_type.eq_ignore_ascii_case(#entities) {
                        return #p::Some(#entities);
                    })*
                    #p::None
                }

                fn from_json(
                    entity_type: &str,
                    data: #p::Json,
                ) -> #p::Result<#p::Option<Self>, #p::JsonError> {
                    #(if entity_type.eq_ignore_ascii_case(#entities) {
                        return #decode(data, Self::#variants);
                    })*
                    #p::Ok(#p::None)
                }

                fn to_json(&self) -> #p::Result<#p::Json, #p::JsonError> {
                    match self {
                        #(Self::#variants(entity) => #to_json(entity),)*
                    }
                }
            }

            #[automatically_derived]
            impl #p::Schema for #ident {
                const ENTITIES: &'static [&'static str] = &[#(#entities),*];

                fn register(builder: #p::RegistryBuilder) -> #p::RegistryBuilder {
                    builder #(#register)*
                }

                fn typescript() -> #p::Vec<#p::Interface> {
                    #p::vec_of([#(#syncable::typescript()),*])
                }
            }

            #[automatically_derived]
            impl #p::Serialize for #ident {
                fn serialize<__S: #p::Serializer>(
                    &self,
                    serializer: __S,
                ) -> #p::Result<__S::Ok, __S::Error> {
                    match self {
                        #(Self::#variants(entity) => #serialize(#entities, entity, serializer),)*
                    }
                }
            }

            #[automatically_derived]
            impl<'de> #p::Deserialize<'de> for #ident {
                fn deserialize<__D: #p::Deserializer<'de>>(
                    deserializer: __D,
                ) -> #p::Result<Self, __D::Error> {
                    #p::deserialize_tagged::<Self, __D>(deserializer)
                }
            }

            #(
                #[automatically_derived]
                impl #p::From<#types> for #ident {
                    fn from(entity: #types) -> Self {
                        Self::#variants(entity)
                    }
                }
            )*
        };
    }
}

/// The errors, and stub impls unless `input` cannot carry them (not an enum, or generic),
/// so code using the schema reports nothing more.
fn fallback(input: &DeriveInput, p: &Private, errors: &syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Enum(_)) {
        return errors;
    }
    let ident = &input.ident;
    let unreachable = quote! {
        ::core::unreachable!("#[derive(SyncSchema)] failed; see the errors above")
    };
    quote! {
        #errors

        const _: () = {
            #[automatically_derived]
            impl #p::Payload for #ident {
                fn entity_type(&self) -> &'static str {
                    #unreachable
                }

                fn id(&self) -> #p::String {
                    #unreachable
                }

                fn resolve(_: &str) -> #p::Option<&'static str> {
                    #unreachable
                }

                fn from_json(_: &str, _: #p::Json) -> #p::Result<#p::Option<Self>, #p::JsonError> {
                    #unreachable
                }

                fn to_json(&self) -> #p::Result<#p::Json, #p::JsonError> {
                    #unreachable
                }
            }

            #[automatically_derived]
            impl #p::Schema for #ident {
                const ENTITIES: &'static [&'static str] = &[];

                fn register(_: #p::RegistryBuilder) -> #p::RegistryBuilder {
                    #unreachable
                }

                fn typescript() -> #p::Vec<#p::Interface> {
                    #unreachable
                }
            }

            #[automatically_derived]
            impl #p::Serialize for #ident {
                fn serialize<__S: #p::Serializer>(&self, _: __S) -> #p::Result<__S::Ok, __S::Error> {
                    #unreachable
                }
            }

            #[automatically_derived]
            impl<'de> #p::Deserialize<'de> for #ident {
                fn deserialize<__D: #p::Deserializer<'de>>(_: __D) -> #p::Result<Self, __D::Error> {
                    #unreachable
                }
            }
        };
    }
}

//! What an invalid entity expands to: every error as `compile_error!`, and a stub impl so
//! that code using the type as a `Syncable` still type-checks and reports nothing more
//! (after thiserror-impl's `fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;
use syn::ext::IdentExt;

use super::Private;

/// The errors, and a stub impl unless `input` cannot carry one (generic types and unions).
pub(super) fn expand(input: &DeriveInput, p: &Private, errors: &syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    if !input.generics.params.is_empty() || matches!(input.data, syn::Data::Union(_)) {
        return errors;
    }
    let ident = &input.ident;
    let name = ident.unraw().to_string();
    let unreachable = quote! {
        ::core::unreachable!("#[derive(Syncable)] failed; see the errors above")
    };
    quote! {
        #errors

        const _: () = {
            #[automatically_derived]
            impl #p::Syncable for #ident {
                const ENTITY: &'static str = #name;
                const COLLECTION: &'static str = "";
                const TABLE: &'static str = "";
                const COLUMNS: &'static [#p::Column] = &[];
                const ID_KEY: &'static str = "id";
                const UPDATED_AT_KEY: &'static str = "updated_at";

                fn id(&self) -> #p::String {
                    #unreachable
                }

                fn updated_at(&self) -> #p::Option<#p::DateTime<#p::Utc>> {
                    #unreachable
                }

                fn set_updated_at(&mut self, _: #p::DateTime<#p::Utc>) {
                    #unreachable
                }

                fn to_row(&self) -> #p::Vec<#p::Value> {
                    #unreachable
                }

                fn from_row(_: #p::Vec<#p::Value>) -> #p::Result<Self, #p::DecodeError> {
                    #unreachable
                }
            }
        };
    }
}

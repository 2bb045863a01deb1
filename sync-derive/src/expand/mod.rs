//! Generation: the `Syncable` impl of a valid entity, or the errors and a stub impl of an
//! invalid one. One generated artifact per file.

mod columns;
mod fallback;
mod row;
mod schema;
mod syncable;
mod typescript;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::DeriveInput;

use crate::ast::Entity;
use crate::check;
use crate::ctxt::Ctxt;

pub(crate) use self::schema::derive as derive_schema;

/// Expands `#[derive(Syncable)]` on `input`: the derive's whole work, callable from tests.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let entity = Entity::from_ast(&cx, &input);
    check::check(&cx, &entity);
    let private = Private::new(&entity);
    match cx
        .finish()
        .and_then(|()| syncable::expand(&entity, &private))
    {
        Ok(expanded) => expanded,
        Err(errors) => fallback::expand(&input, &private, &errors),
    }
}

/// The path through which generated code reaches everything: `::sync_core::__private`, or
/// `<crate>::__private` under `#[sync(crate = "...")]`.
pub(crate) struct Private(TokenStream);

impl Private {
    /// The path for `entity`.
    fn new(entity: &Entity<'_>) -> Private {
        Private(match &entity.attrs.krate {
            Some(krate) => quote!(#krate::__private),
            None => quote!(::sync_core::__private),
        })
    }
}

impl ToTokens for Private {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.0.to_tokens(tokens);
    }
}

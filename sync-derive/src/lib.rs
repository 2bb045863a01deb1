//! `#[derive(Syncable)]` for `sync-core`. Use it through `sync_core::Syncable`.
//!
//! The derive reads the struct and its `#[sync(...)]` attributes into a model (`ast`),
//! checks the rules that span several fields (`check`), and generates the `Syncable` impl
//! (`expand`). Every mistake is collected (`ctxt`) and reported in one compile, each at
//! the offending token, beside a stub impl that keeps the rest of the crate type-checking.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `sync_core::Syncable` for a struct with named fields.
///
/// Container attributes: `#[sync(entity = "...", table = "...", collection = "...",
/// crate = "...")]`. Field attributes: `#[sync(id)]`, `#[sync(updated_at)]`, `#[sync(json)]`,
/// `#[sync(index)]`, `#[sync(column = "...")]`, `#[sync(skip)]`, `#[sync(default)]`. See the
/// `sync_core::Syncable` documentation for what each means.
#[proc_macro_derive(Syncable, attributes(sync))]
pub fn derive_syncable(input: TokenStream) -> TokenStream {
    expand::derive(input.into()).into()
}

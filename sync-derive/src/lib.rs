//! `#[derive(Syncable)]` and `#[derive(SyncSchema)]` for `sync-core`. Use them through
//! `sync_core::Syncable` and `sync_core::SyncSchema`.
//!
//! The entity derive reads the struct and its `#[sync(...)]` attributes into a model
//! (`ast`), checks the rules that span several fields (`check`), and generates the
//! `Syncable` impl (`expand`). The schema derive reads an app's payload enum (`schema`) and
//! generates its `Payload`, `Schema` and serde impls (`expand::schema`). Every mistake is collected (`ctxt`) and reported in one compile, each at
//! the offending token, beside a stub impl that keeps the rest of the crate type-checking.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;
mod schema;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `sync_core::Syncable` for a struct with named fields.
///
/// Container attributes: `#[sync(entity = "...", table = "...", collection = "...",
/// crate = "...")]`. Field attributes: `#[sync(id)]`, `#[sync(updated_at)]`, `#[sync(json)]`,
/// `#[sync(index)]`, `#[sync(column = "...")]`, `#[sync(skip)]`, `#[sync(default)]`,
/// `#[sync(ts = "...")]`. See the `sync_core::Syncable` documentation for what each means.
#[proc_macro_derive(Syncable, attributes(sync))]
pub fn derive_syncable(input: TokenStream) -> TokenStream {
    expand::derive(input.into()).into()
}

/// Derives `sync_core::entity::Schema` (and `Payload`, `Serialize`, `Deserialize` and
/// `From` each entity) for an app's payload enum: one tuple variant per entity, e.g.
/// `enum Payload { Account(Account), Tag(Tag) }`. Attribute: `#[sync(crate = "...")]`.
#[proc_macro_derive(SyncSchema, attributes(sync))]
pub fn derive_sync_schema(input: TokenStream) -> TokenStream {
    expand::derive_schema(input.into()).into()
}

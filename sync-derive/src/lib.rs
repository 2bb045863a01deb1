//! `#[derive(Syncable)]` for `sync-core`. Use it through `sync_core::Syncable`.

use proc_macro::TokenStream;

/// Derives `sync_core::Syncable`.
#[proc_macro_derive(Syncable, attributes(sync))]
pub fn derive_syncable(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

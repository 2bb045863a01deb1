//! Snapshots of the formatted expansion of representative entities, so that a change to the
//! generated code shows up in review as a diff of readable Rust.
//!
//! Update with `INSTA_UPDATE=always cargo test -p sync-derive`, then review the `.snap` files.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::derive;

/// The expansion of `input`, formatted as a file.
fn expand(input: TokenStream) -> String {
    let output = derive(input);
    match syn::parse2::<syn::File>(output.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(error) => panic!("the expansion does not parse: {error}\n{output}"),
    }
}

#[test]
fn account() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(Serialize, Deserialize, Syncable)]
        #[serde(rename_all = "camelCase")]
        #[sync(entity = "Account", table = "accounts")]
        pub struct Account {
            #[sync(id)]
            pub id: String,
            #[sync(index)]
            pub name: String,
            pub credit_limit: Option<f64>,
            #[sync(json)]
            pub tag_ids: Vec<String>,
            #[sync(skip)]
            pub cached: u32,
            #[serde(rename = "updated_at")]
            #[sync(updated_at)]
            pub updated_at: Option<DateTime<Utc>>,
        }
    }));
}

#[test]
fn field_merged_profile() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(Serialize, Deserialize, Syncable)]
        #[serde(rename_all = "camelCase")]
        #[sync(entity = "Profile", merge = "field")]
        pub struct Profile {
            #[sync(id)]
            pub id: String,
            pub display_name: String,
            #[sync(merge = "max")]
            pub high_score: i64,
            #[sync(skip)]
            pub cached: u32,
            #[sync(merge = "lww", json)]
            pub tags: Vec<String>,
            #[serde(rename = "updated_at")]
            #[sync(updated_at)]
            pub updated_at: Option<DateTime<Utc>>,
        }
    }));
}

#[test]
fn recurring_payment_with_uuid_id_and_crate_override() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(Serialize, Deserialize, Syncable)]
        #[serde(rename_all = "camelCase")]
        #[sync(crate = "finwise::sync_core")]
        pub struct RecurringPayment {
            #[sync(id)]
            pub id: uuid::Uuid,
            #[sync(column = "payee_name", index)]
            pub payee: String,
            #[sync(json)]
            pub schedule: Schedule,
            #[sync(default)]
            pub paused: bool,
            #[sync(json, default)]
            pub r#type: Vec<Kind>,
            #[sync(updated_at)]
            pub updated_at: DateTime<Utc>,
        }
    }));
}

#[test]
fn invalid_entity_gets_errors_and_a_stub() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(Serialize, Deserialize, Syncable)]
        #[sync(tabel = "accounts")]
        pub struct Account {
            #[sync(id, json)]
            pub id: String,
        }
    }));
}

#[test]
fn generic_entity_gets_only_the_error() {
    insta::assert_snapshot!(expand(quote! {
        pub struct Account<T> {
            #[sync(id)]
            pub id: T,
        }
    }));
}

/// The expansion of `#[derive(SyncSchema)]` on `input`, formatted as a file.
fn expand_schema(input: TokenStream) -> String {
    let output = crate::expand::derive_schema(input);
    match syn::parse2::<syn::File>(output.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(error) => panic!("the expansion does not parse: {error}\n{output}"),
    }
}

#[test]
fn schema() {
    insta::assert_snapshot!(expand_schema(quote! {
        #[derive(Debug, Clone, SyncSchema)]
        pub enum Payload {
            Account(Account),
            Group(crate::entities::AccountGroup),
        }
    }));
}

#[test]
fn invalid_schema_gets_errors_and_stubs() {
    insta::assert_snapshot!(expand_schema(quote! {
        #[derive(SyncSchema)]
        #[sync(table = "payloads")]
        pub enum Payload {
            Account(Account),
            Tag { tag: Tag },
        }
    }));
}

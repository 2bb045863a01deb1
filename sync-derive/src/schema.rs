//! The model of `#[derive(SyncSchema)]`: an enum with one single-entity tuple variant per
//! entity, and its one attribute, `#[sync(crate = "...")]`. Every mistake is reported to
//! the [`Ctxt`], spanned at the offending token.

use quote::ToTokens;
use syn::{Data, DeriveInput, Fields, Ident, Path, Type};

use crate::attr::{Place, Seen, sync_items};
use crate::ctxt::Ctxt;

/// The attributes valid on the enum.
const ENUM: Place = Place {
    kind: "schema",
    put: "on the enum",
    forms: &["crate = \"...\""],
};

/// Where entity attributes go, for the hint of a misplaced one.
const ENTITY: Place = Place {
    kind: "Syncable",
    put: "on the entity's struct, which derives `Syncable`",
    forms: &[
        "entity = \"...\"",
        "table = \"...\"",
        "collection = \"...\"",
        "id",
        "updated_at",
        "json",
        "index",
        "column = \"...\"",
        "skip",
        "default",
        "ts = \"...\"",
    ],
};

/// The example every shape error shows.
const EXAMPLE: &str = "`enum Payload { Account(Account), Tag(Tag) }`";

/// An enum deriving `SyncSchema`.
pub(crate) struct Schema<'a> {
    /// The enum's name.
    pub(crate) ident: &'a Ident,
    /// `crate = "..."`: the path generated code uses instead of `::sync_core`.
    pub(crate) krate: Option<Path>,
    /// One per entity, in declaration order.
    pub(crate) variants: Vec<Variant<'a>>,
}

/// A variant holding one entity.
pub(crate) struct Variant<'a> {
    /// The variant's name.
    pub(crate) ident: &'a Ident,
    /// The entity type it holds.
    pub(crate) ty: &'a Type,
}

impl<'a> Schema<'a> {
    /// Reads `input`, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Schema<'a> {
        let krate = container(cx, &input.attrs);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "SyncSchema cannot be derived for a generic enum: it names an app's concrete \
                 entities; remove the type, lifetime and const parameters",
            );
        }
        let variants = match &input.data {
            Data::Enum(data) => {
                if data.variants.is_empty() {
                    cx.error_spanned_by(
                        &input.ident,
                        format!("a schema needs at least one entity, e.g. {EXAMPLE}"),
                    );
                }
                data.variants
                    .iter()
                    .filter_map(|variant| Variant::from_ast(cx, variant))
                    .collect()
            }
            Data::Struct(data) => {
                cx.error_at(data.struct_token.span, shape_error("a struct"));
                Vec::new()
            }
            Data::Union(data) => {
                cx.error_at(data.union_token.span, shape_error("a union"));
                Vec::new()
            }
        };
        let schema = Schema {
            ident: &input.ident,
            krate,
            variants,
        };
        schema.check_duplicates(cx);
        schema
    }

    /// No entity type is held by two variants.
    fn check_duplicates(&self, cx: &Ctxt) {
        let mut seen: Vec<(String, &Ident)> = Vec::new();
        for variant in &self.variants {
            let key = variant.ty.to_token_stream().to_string();
            match seen.iter().find(|(ty, _)| *ty == key) {
                Some((_, first)) => cx.error_spanned_by(
                    variant.ty,
                    format!(
                        "variant `{first}` already holds this entity; each entity appears once \
                         in a schema: remove this variant"
                    ),
                ),
                None => seen.push((key, variant.ident)),
            }
        }
    }
}

impl<'a> Variant<'a> {
    /// Reads a variant: exactly one unnamed field, no `#[sync(...)]`.
    fn from_ast(cx: &Ctxt, variant: &'a syn::Variant) -> Option<Variant<'a>> {
        for attr in variant
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("sync"))
        {
            cx.error_spanned_by(
                attr,
                "sync attributes do not go on a schema's variants: put them on the entity's \
                 struct",
            );
        }
        let ident = &variant.ident;
        let hint = format!("hold the entity in a tuple variant: `{ident}({ident})`");
        match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(Variant {
                ident,
                ty: &fields.unnamed[0].ty,
            }),
            Fields::Unnamed(fields) => {
                cx.error_spanned_by(
                    fields,
                    format!("a schema's variant holds exactly one entity; {hint}"),
                );
                None
            }
            Fields::Named(fields) => {
                cx.error_spanned_by(
                    fields,
                    format!("a schema's variant holds its entity unnamed; {hint}"),
                );
                None
            }
            Fields::Unit => {
                cx.error_spanned_by(ident, format!("this variant holds no entity; {hint}"));
                None
            }
        }
    }
}

/// Reads the enum's `#[sync(...)]`: only `crate = "..."`.
fn container(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<Path> {
    let mut seen = Seen::default();
    let mut krate = None;
    let (items, _) = sync_items(cx, attrs, "#[sync(crate = \"my_app::sync_core\")]");
    for item in items {
        if item.name != "crate" {
            crate::attr::unknown(cx, &item, &ENUM, &ENTITY);
            continue;
        }
        if !seen.first(cx, &item) {
            continue;
        }
        let lit = crate::attr::string(cx, &item, "my_app::sync_core")?;
        match lit.parse::<Path>() {
            Ok(path) => krate = Some(path),
            Err(_) => cx.error_spanned_by(
                &lit,
                "`crate` must name the path of the sync_core crate, e.g. \
                 `#[sync(crate = \"my_app::sync_core\")]`",
            ),
        }
    }
    krate
}

/// The error for an input that is not an enum.
fn shape_error(what: &str) -> String {
    format!(
        "SyncSchema cannot be derived for {what}: a schema is an enum with one variant per \
         entity, e.g. {EXAMPLE}"
    )
}

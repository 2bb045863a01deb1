//! The entity model: a struct with its attributes read, its stored fields and the names the
//! generated code uses, each keeping the span errors point at.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::container::Container;
use crate::attr::field::FieldAttrs;
use crate::case::{self, RenameRule};
use crate::ctxt::Ctxt;

/// A struct deriving `Syncable`.
pub(crate) struct Entity<'a> {
    /// The struct's name.
    pub(crate) ident: &'a Ident,
    /// Its `#[sync(...)]` attributes.
    pub(crate) attrs: Container,
    /// Its serde `rename_all` rule for deserializing.
    pub(crate) rename_all: Option<RenameRule>,
    /// Its serde `rename_all` rule for serializing.
    pub(crate) rename_all_serialize: Option<RenameRule>,
    /// Its doc comment.
    pub(crate) doc: Option<String>,
    /// Its named fields; `None` when the input is not a struct with named fields.
    pub(crate) fields: Option<Vec<Field<'a>>>,
}

/// A named field of the entity.
pub(crate) struct Field<'a> {
    /// The field's name, possibly raw (`r#type`).
    pub(crate) ident: &'a Ident,
    /// The field's type.
    pub(crate) ty: &'a Type,
    /// Its `#[sync(...)]` attributes.
    pub(crate) attrs: FieldAttrs,
    /// Its serde `rename` for deserializing.
    pub(crate) serde_rename: Option<String>,
    /// Its serde `rename` for serializing.
    pub(crate) serde_rename_serialize: Option<String>,
    /// Whether and how serde writes it.
    pub(crate) writes: crate::attr::serde::Writes,
    /// Its doc comment.
    pub(crate) doc: Option<String>,
}

/// A name the entity uses, and where an error about it should point.
pub(crate) struct Name {
    /// The name.
    pub(crate) value: String,
    /// The token that set it: the attribute's string, or the identifier it defaults from.
    pub(crate) span: Span,
    /// Whether it was given explicitly rather than derived from an identifier.
    pub(crate) explicit: bool,
}

impl<'a> Entity<'a> {
    /// Reads `input`, reporting the wrong shapes (not a struct with named fields, generic)
    /// and every malformed attribute to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Entity<'a> {
        let attrs = Container::from_attrs(cx, &input.attrs);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "Syncable cannot be derived for generic structs: an entity is one concrete type \
                 stored in one table; remove the type, lifetime and const parameters",
            );
        }
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(
                    named
                        .named
                        .iter()
                        .filter_map(|field| Field::from_ast(cx, field))
                        .collect(),
                ),
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(unnamed, shape_error("a tuple struct"));
                    None
                }
                Fields::Unit => {
                    cx.error_spanned_by(&input.ident, shape_error("a unit struct"));
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_at(data.enum_token.span, shape_error("an enum"));
                None
            }
            Data::Union(data) => {
                cx.error_at(data.union_token.span, shape_error("a union"));
                None
            }
        };
        let rename_all = crate::attr::serde::rename_all(&input.attrs);
        Entity {
            ident: &input.ident,
            attrs,
            rename_all,
            rename_all_serialize: crate::attr::serde::rename_all_serialize(&input.attrs),
            doc: crate::attr::serde::docs(&input.attrs),
            fields,
        }
    }

    /// The stored fields (all but `#[sync(skip)]` ones), in field order = column order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields()
            .iter()
            .filter(|field| field.attrs.skip.is_none())
    }

    /// Every named field; none when the input had the wrong shape.
    pub(crate) fn fields(&self) -> &[Field<'a>] {
        self.fields.as_deref().unwrap_or_default()
    }

    /// The `#[sync(id)]` field, once checked to be the only one.
    pub(crate) fn id(&self) -> Option<&Field<'a>> {
        self.fields().iter().find(|field| field.attrs.id.is_some())
    }

    /// The `#[sync(updated_at)]` field, once checked to be the only one.
    pub(crate) fn updated_at(&self) -> Option<&Field<'a>> {
        self.fields()
            .iter()
            .find(|field| field.attrs.updated_at.is_some())
    }

    /// The wire name: `entity = "..."` or the struct's name.
    pub(crate) fn entity(&self) -> Name {
        Name::from_attr(self.attrs.entity.as_ref())
            .unwrap_or_else(|| Name::from_ident(self.ident, self.ident.unraw().to_string()))
    }

    /// The SQL table: `table = "..."`, else `collection = "..."`, else the struct's name in
    /// snake_case, pluralised.
    pub(crate) fn table(&self) -> Name {
        Name::from_attr(self.attrs.table.as_ref().or(self.attrs.collection.as_ref()))
            .unwrap_or_else(|| self.default_table())
    }

    /// The collection: `collection = "..."`, else `table = "..."`, else the default table.
    pub(crate) fn collection(&self) -> Name {
        Name::from_attr(self.attrs.collection.as_ref().or(self.attrs.table.as_ref()))
            .unwrap_or_else(|| self.default_table())
    }

    /// The table named after the struct.
    fn default_table(&self) -> Name {
        Name::from_ident(
            self.ident,
            case::default_table(&self.ident.unraw().to_string()),
        )
    }

    /// The JSON key of the `updated_at` field, as serde reads it.
    pub(crate) fn updated_at_key(&self) -> Option<String> {
        self.updated_at().map(|field| self.json_key(field))
    }

    /// The JSON key of the id field, as serde reads it.
    pub(crate) fn id_key(&self) -> Option<String> {
        self.id().map(|field| self.json_key(field))
    }

    /// The JSON key serde writes `field` under: its serde rename, else the container's
    /// rename rule applied to its name, else its name.
    pub(crate) fn written_key(&self, field: &Field<'_>) -> String {
        let name = field.name();
        match (&field.serde_rename_serialize, self.rename_all_serialize) {
            (Some(rename), _) => rename.clone(),
            (None, Some(rule)) => rule.apply_to_field(&name),
            (None, None) => name,
        }
    }

    /// The JSON key of `field`: its serde rename, else the container's rename rule applied
    /// to its name, else its name.
    fn json_key(&self, field: &Field<'_>) -> String {
        let name = field.name();
        match (&field.serde_rename, self.rename_all) {
            (Some(rename), _) => rename.clone(),
            (None, Some(rule)) => rule.apply_to_field(&name),
            (None, None) => name,
        }
    }
}

impl<'a> Field<'a> {
    /// Reads a named field; `None` for an unnamed one, which the caller never passes.
    fn from_ast(cx: &Ctxt, field: &'a syn::Field) -> Option<Field<'a>> {
        Some(Field {
            ident: field.ident.as_ref()?,
            ty: &field.ty,
            attrs: FieldAttrs::from_attrs(cx, &field.attrs),
            serde_rename: crate::attr::serde::rename(&field.attrs),
            serde_rename_serialize: crate::attr::serde::rename_serialize(&field.attrs),
            writes: crate::attr::serde::writes(&field.attrs),
            doc: crate::attr::serde::docs(&field.attrs),
        })
    }

    /// The field's name without `r#`.
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// The SQL column: `column = "..."` or the field's name.
    pub(crate) fn column(&self) -> Name {
        Name::from_attr(self.attrs.column.as_ref())
            .unwrap_or_else(|| Name::from_ident(self.ident, self.name()))
    }

    /// The span of the field's type, where type errors point.
    pub(crate) fn ty_span(&self) -> Span {
        self.ty.span()
    }
}

impl Name {
    /// The name given by an attribute's string, if any.
    fn from_attr(lit: Option<&syn::LitStr>) -> Option<Name> {
        lit.map(|lit| Name {
            value: lit.value(),
            span: lit.span(),
            explicit: true,
        })
    }

    /// A name derived from `ident`.
    fn from_ident(ident: &Ident, value: String) -> Name {
        Name {
            value,
            span: ident.span(),
            explicit: false,
        }
    }
}

/// The error for an input that is not a struct with named fields.
fn shape_error(what: &str) -> String {
    format!(
        "Syncable cannot be derived for {what}: an entity is a struct with named fields, \
         e.g. `struct Account {{ #[sync(id)] id: String, ... }}`"
    )
}
